global using Command = System.CommandLine.Command;
global using KilnCommand = Kiln.Protocol.Command;
