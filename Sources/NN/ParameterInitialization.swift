import Tensors

/// Building a model whose weights a loader is about to replace, without paying for random values.
///
/// Inside `ParameterInitialization.deferred { … }`, `Linear`, `Embedding` and `Conv1D` allocate their
/// weights without writing them: the memory is reserved but not touched, so it costs neither time nor
/// resident pages, and it is released when the loader assigns the checkpoint's tensors. Only use it
/// where every parameter is then loaded strictly (`loadStateDictionary` with `missing: .error`):
/// a parameter that is not replaced holds arbitrary values.
public enum ParameterInitialization {
    @TaskLocal static var isDeferred = false

    /// Runs `body` with weight initialisation deferred (see the type's documentation).
    public static func deferred<T>(_ body: () throws -> T) rethrows -> T {
        try $isDeferred.withValue(true) { try body() }
    }

    /// A weight of `shape`: uninitialised when deferred, otherwise `make()`.
    static func weight(_ shape: [Int], _ make: () -> Tensor) -> Tensor {
        isDeferred ? Tensor(shape: shape) { _ in } : make()
    }
}
