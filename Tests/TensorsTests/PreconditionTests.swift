import Testing
import Tensors

/// Programming errors (mismatched shapes, bad axes, out-of-range subscripts) stop the process with a
/// message naming the shapes instead of reading out of bounds. Each case runs in a child process.
@Suite("Shape errors stop with a clear message")
struct PreconditionTests {
    @Test func mismatchedAddition() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.zeros([2, 3]) + Tensor.zeros([4])
        }
        #if DEBUG  // optimized builds drop precondition messages; the process still stops
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("[2, 3]") && message.contains("[4]"))
        #else
        _ = result
        #endif
    }

    @Test func mismatchedMatmul() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.matmul(Tensor.zeros([2, 3]), Tensor.zeros([4, 5]))
        }
        #if DEBUG  // optimized builds drop precondition messages; the process still stops
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("inner dimensions differ"))
        #else
        _ = result
        #endif
    }

    @Test func invalidAxis() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([2, 3]).sum(axis: 2)
        }
    }

    @Test func outOfRangeSubscriptAndSlice() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([2, 3])[2, 0]
        }
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([2, 3]).slice(axis: 1, 1..<4)
        }
    }

    @Test func badReshape() async {
        await #expect(processExitsWith: .failure) {
            _ = Tensor.zeros([2, 3]).reshaped([4, -1])
        }
    }
}
