/// Shape arithmetic shared by every tensor operation.
public enum Shape {
    /// Product of the dimensions; stops with a message for a negative size or an overflow (a
    /// programming error here — data-dependent shapes go through `checkedElementCount`).
    public static func elementCount(_ shape: [Int]) -> Int {
        guard let count = checkedElementCount(shape) else {
            precondition(shape.allSatisfy { $0 >= 0 }, "Shape \(shape) has a negative dimension")
            preconditionFailure("Shape \(shape) has more elements than Int can count")
        }
        return count
    }

    /// Product of the dimensions, or nil when a dimension is negative or the product overflows.
    public static func checkedElementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for dimension in shape {
            guard dimension >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// Row-major strides (in elements) of a contiguous tensor of `shape`.
    public static func strides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        var running = 1
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            strides[axis] = running
            running *= shape[axis]
        }
        return strides
    }

    /// Turns a possibly negative axis (−1 is the last) into an index in `0..<rank`.
    public static func normalizedAxis(_ axis: Int, rank: Int, operation: String) -> Int {
        let resolved = axis < 0 ? axis + rank : axis
        precondition(resolved >= 0 && resolved < rank,
                     "\(operation): axis \(axis) is invalid for a tensor of rank \(rank)")
        return resolved
    }

    /// The NumPy-style broadcast of two shapes (trailing dimensions aligned; size-1 dimensions stretch),
    /// or nil when they are incompatible.
    public static func broadcast(_ a: [Int], _ b: [Int]) -> [Int]? {
        let rank = max(a.count, b.count)
        var result = [Int](repeating: 1, count: rank)
        for i in 0..<rank {
            let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
            let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
            if da == db || db == 1 {
                result[i] = da
            } else if da == 1 {
                result[i] = db
            } else {
                return nil
            }
        }
        return result
    }

    /// Strides for reading a tensor of `shape` as if it had the (broadcast) shape `target`:
    /// stretched dimensions get stride 0.
    static func broadcastStrides(_ shape: [Int], to target: [Int]) -> [Int] {
        let own = strides(shape)
        let offset = target.count - shape.count
        var result = [Int](repeating: 0, count: target.count)
        for i in 0..<shape.count where shape[i] != 1 || target[i + offset] == 1 {
            result[i + offset] = shape[i] == 1 ? 0 : own[i]
        }
        return result
    }
}
