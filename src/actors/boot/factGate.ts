/**
 * Holds engine facts back while reconciliation runs and replays them after: a fact about a runtime the supervisor
 * does not know yet would be dropped, and the container watch never tells the same fact twice.
 */
export class FactGate<F> {
  private buffered: Array<[string, F]> | null = [];

  constructor(private readonly deliver: (name: string, fact: F) => void) {}

  push(name: string, fact: F): void {
    if (this.buffered) this.buffered.push([name, fact]);
    else this.deliver(name, fact);
  }

  open(): void {
    const held = this.buffered ?? [];
    this.buffered = null;
    for (const [name, fact] of held) this.deliver(name, fact);
  }
}
