/// Errors raised by tensor operations whose validity depends on data (indices, ids, sizes read from files),
/// as opposed to programming mistakes such as mismatched shapes, which stop with a precondition message.
public enum TensorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// An index read from data is outside `0..<bound` (for example a token id past the vocabulary).
    case indexOutOfRange(operation: String, index: Int, bound: Int, position: Int)
    /// A shape or element count does not fit what the operation needs.
    case invalidShape(operation: String, shape: [Int], reason: String)

    /// A one-line description, as users see it.
    public var description: String {
        switch self {
        case let .indexOutOfRange(operation, index, bound, position):
            return "\(operation): index \(index) at position \(position) is out of range 0..<\(bound)"
        case let .invalidShape(operation, shape, reason):
            return "\(operation): invalid shape \(shape): \(reason)"
        }
    }
}
