/**
 * Collects what arrives during one turn of the event loop and hands it over as one batch early in the next
 * (setImmediate): the way deckhand pays once for many (one transaction for a turn's bookkeeping, one message to
 * the mail folder's thread for a turn's files).
 */
export class TurnBatch<T> {
  readonly #flush: (items: T[]) => void
  #items: T[] = []
  #scheduled = false

  constructor(flush: (items: T[]) => void) {
    this.#flush = flush
  }

  add(item: T): void {
    this.#items.push(item)
    if (this.#scheduled) return
    this.#scheduled = true
    setImmediate(() => {
      this.#scheduled = false
      const items = this.#items
      this.#items = []
      this.#flush(items)
    })
  }
}
