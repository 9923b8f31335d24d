/// The processes (or threads) that train one model together by data parallelism, and the
/// collective operations they need: each member computes the gradients of its share of every
/// global batch, and the members add them up so that each applies the same update.
///
/// Every member must call the same collective operations in the same order with buffers of the
/// same size; the results are identical on every member (sums are taken in rank order). A member
/// that fails calls `abort`, and every member blocked in (or later entering) a collective throws
/// `CommunicatorError.aborted` naming it, so no member waits forever.
///
/// `SingleProcessCommunicator` is the group of one; `LocalCommunicatorGroup` joins threads of one
/// process (tests, and a reference for the MPI implementation); MPI's joins processes and machines.
public protocol Communicator: AnyObject, Sendable {
    /// This member's index, `0..<size`. Rank 0 logs, evaluates and writes checkpoints.
    var rank: Int { get }
    /// How many members train together.
    var size: Int { get }
    /// Replaces `values` on every member by the element-wise sum of all members' `values`.
    /// - Throws: `CommunicatorError` when the group was aborted or the sizes differ.
    func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws
    /// The sum of every member's `value` (in double precision: counts, losses).
    func allReduceSum(_ value: Double) throws -> Double
    /// The largest of every member's `value` (flags: any member saw a non-finite loss).
    func allReduceMax(_ value: Double) throws -> Double
    /// Returns once every member has called it.
    func barrier() throws
    /// Ends the group: every member's next or current collective throws `CommunicatorError.aborted`.
    func abort(_ message: String)
}

extension Communicator {
    /// `allReduceSum` over an array.
    public func allReduceSum(_ values: inout [Float]) throws {
        try values.withUnsafeMutableBufferPointer { try allReduceSum($0) }
    }
}

/// Why a collective operation failed.
public enum CommunicatorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A member ended the group (`abort`), with its message.
    case aborted(rank: Int, message: String)
    /// Members passed buffers of different sizes to one collective.
    case mismatchedSizes(rank: Int, expected: Int, got: Int)

    /// Names the member and what happened.
    public var description: String {
        switch self {
        case let .aborted(rank, message): "rank \(rank) ended the training group: \(message)"
        case let .mismatchedSizes(rank, expected, got):
            "rank \(rank) reduced \(got) values where the others reduced \(expected): the members are not running the same program or model"
        }
    }
}

/// The group of one process: every collective returns its input.
public final class SingleProcessCommunicator: Communicator {
    /// Always 0.
    public let rank = 0
    /// Always 1.
    public let size = 1

    /// The group of one.
    public init() {}

    /// Leaves `values` as they are.
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {}
    /// Returns `value`.
    public func allReduceSum(_ value: Double) throws -> Double { value }
    /// Returns `value`.
    public func allReduceMax(_ value: Double) throws -> Double { value }
    /// Returns at once.
    public func barrier() throws {}
    /// Nothing waits on a group of one.
    public func abort(_ message: String) {}
}
