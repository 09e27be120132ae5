import NIOConcurrencyHelpers

/// Items handed from other threads (the HAL's receive path) to one event loop: never blocks,
/// holds at most `capacity` (beyond that an offer is refused, for the caller to count), and is
/// taken whole, so a burst costs one wake-up of the loop.
final class BoundedInbox<Element: Sendable>: Sendable {
    private let items = NIOLockedValueBox<[Element]>([])
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    enum Offer {
        /// Accepted; the inbox was empty, so the loop needs waking.
        case first
        case accepted
        case refused
    }

    func offer(_ element: Element) -> Offer {
        items.withLockedValue { queue in
            guard queue.count < capacity else { return .refused }
            queue.append(element)
            return queue.count == 1 ? .first : .accepted
        }
    }

    /// Everything waiting, in order of arrival.
    func take() -> [Element] {
        var taken: [Element] = []
        items.withLockedValue { swap(&$0, &taken) }
        return taken
    }
}
