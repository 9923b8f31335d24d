/// Walks the outer axes of an n-d iteration (all but the last) in row-major order, keeping the flat
/// offsets of up to two strided operands in step. Kernels run the innermost axis themselves.
struct Odometer {
    let shape: [Int]
    let stridesA: [Int]
    let stridesB: [Int]
    private var index: [Int]
    /// Offset of the current row in operand A.
    private(set) var offsetA = 0
    /// Offset of the current row in operand B.
    private(set) var offsetB = 0

    init(shape: [Int], stridesA: [Int], stridesB: [Int]? = nil) {
        self.shape = shape
        self.stridesA = stridesA
        self.stridesB = stridesB ?? [Int](repeating: 0, count: shape.count)
        index = [Int](repeating: 0, count: shape.count)
    }

    /// An odometer already at row `row` (row-major over the outer axes), for a worker that starts
    /// mid-way through the iteration.
    init(shape: [Int], stridesA: [Int], stridesB: [Int]? = nil, startingAtRow row: Int) {
        self.init(shape: shape, stridesA: stridesA, stridesB: stridesB)
        var rest = row
        var axis = shape.count - 2
        while axis >= 0 && rest > 0 {
            let position = rest % shape[axis]
            rest /= shape[axis]
            index[axis] = position
            offsetA += position * self.stridesA[axis]
            offsetB += position * self.stridesB[axis]
            axis -= 1
        }
    }

    /// Moves to the next row (the next combination of the outer axes).
    @inline(__always)
    mutating func advance() {
        var axis = shape.count - 2
        while axis >= 0 {
            index[axis] += 1
            offsetA += stridesA[axis]
            offsetB += stridesB[axis]
            if index[axis] < shape[axis] { return }
            offsetA -= stridesA[axis] * shape[axis]
            offsetB -= stridesB[axis] * shape[axis]
            index[axis] = 0
            axis -= 1
        }
    }
}
