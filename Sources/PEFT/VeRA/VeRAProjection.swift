import Autograd
import Tensors

/// The frozen random matrices one VeRA adapter shares across all its layers: `A: [r, largest in]`
/// and `B: [largest out, r]`; each layer uses the top-left block its shape needs.
public final class VeRAProjection {
    /// `vera_A`, `[r, largest in]` (frozen).
    public let a: Variable
    /// `vera_B`, `[largest out, r]` (frozen).
    public let b: Variable

    /// Draws A then B from `seed` exactly as PEFT does (PyTorch's CPU generator, Kaiming-uniform).
    init(rank: Int, largestIn: Int, largestOut: Int, seed: UInt64) {
        var generator = TorchCPUGenerator(seed: seed)
        a = Variable(Tensor(generator.kaimingUniform(rows: rank, columns: largestIn), shape: [rank, largestIn]))
        b = Variable(Tensor(generator.kaimingUniform(rows: largestOut, columns: rank), shape: [largestOut, rank]))
    }
}
