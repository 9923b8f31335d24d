import Foundation
#if MPI
import CMPI
import Synchronization

/// The processes of an `mpirun` job (Open MPI's `MPI_COMM_WORLD`) as a `Communicator`. Available
/// when PEFTKit is built with the `MPI` trait. Sums are taken in double precision and rounded once,
/// as `LocalCommunicatorGroup` takes them; `abort` ends the whole job (`MPI_Abort`) after printing
/// which rank failed and why, so no process waits forever.
public final class MPICommunicator: Communicator, @unchecked Sendable {
    /// This process's rank in the job.
    public let rank: Int
    /// The processes in the job.
    public let size: Int

    private static let shared = Mutex<MPICommunicator?>(nil)

    /// The job's communicator, initialising MPI on first use (it is finalised at exit).
    /// - Throws: `CommunicatorError.aborted` when MPI cannot be initialised.
    public static func world() throws -> MPICommunicator {
        try shared.withLock { current in
            if let current { return current }
            guard pk_mpi_initialize() == 0 else { throw CommunicatorError.aborted(rank: -1, message: "MPI could not be initialised") }
            atexit { _ = pk_mpi_finalize() }
            let world = MPICommunicator(rank: Int(pk_mpi_rank()), size: Int(pk_mpi_size()))
            current = world
            return world
        }
    }

    private init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    /// Sums `values` over every process.
    public func allReduceSum(_ values: UnsafeMutableBufferPointer<Float>) throws {
        var doubles = values.map(Double.init)
        try reduce(&doubles, maximum: false)
        for index in values.indices { values[index] = Float(doubles[index]) }
    }

    /// The sum of every process's `value`.
    public func allReduceSum(_ value: Double) throws -> Double {
        var values = [value]
        try reduce(&values, maximum: false)
        return values[0]
    }

    /// The largest of every process's `value`.
    public func allReduceMax(_ value: Double) throws -> Double {
        var values = [value]
        try reduce(&values, maximum: true)
        return values[0]
    }

    /// Returns once every process has called it.
    public func barrier() throws {
        guard pk_mpi_barrier() == 0 else { throw CommunicatorError.aborted(rank: rank, message: "MPI_Barrier failed") }
    }

    /// Prints `rank N: message` to standard error and ends every process of the job.
    public func abort(_ message: String) {
        FileHandle.standardError.write(Data("rank \(rank): \(message); ending the job\n".utf8))
        pk_mpi_abort(1)
    }

    private func reduce(_ values: inout [Double], maximum: Bool) throws {
        guard !values.isEmpty else { return try barrier() }
        let status = values.withUnsafeMutableBufferPointer { pk_mpi_allreduce_doubles($0.baseAddress, Int32($0.count), maximum ? 1 : 0) }
        guard status == 0 else { throw CommunicatorError.aborted(rank: rank, message: "MPI_Allreduce failed (\(status))") }
    }
}

#endif

/// What an MPI launcher (`mpirun`, `srun`) tells the processes it starts.
public enum MPILaunch {
    /// The number of processes in the job (1 when not started by a launcher): Open MPI's
    /// `OMPI_COMM_WORLD_SIZE`, MPICH's `PMI_SIZE` or Slurm's `SLURM_NTASKS`.
    public static var processCount: Int {
        let environment = ProcessInfo.processInfo.environment
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "SLURM_NTASKS"] {
            if let value = environment[key].flatMap(Int.init), value >= 1 { return value }
        }
        return 1
    }

    /// True when PEFTKit was built with the `MPI` trait (`MPICommunicator` exists).
    public static var isAvailable: Bool {
        #if MPI
        return true
        #else
        return false
        #endif
    }
}
