// A side panel of the run page that looks at its endpoint every few seconds while the page is open: refresh() once
// at start, then again after each answer, and never after the page is left.

export class PolledPanel {
  constructor(every = 2000) {
    this.every = every; // ms between looks
    this.timer = null;
    this.disposed = false;
  }

  start() {
    const look = async () => {
      if (this.disposed) return;
      await this.refresh();
      if (!this.disposed) this.timer = setTimeout(look, this.every);
    };
    look();
  }

  dispose() {
    this.disposed = true;
    clearTimeout(this.timer);
  }
}
