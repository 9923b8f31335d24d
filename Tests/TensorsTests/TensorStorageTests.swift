import Foundation
import Testing
@testable import Tensors

/// An object whose lifetime the tests observe through a weak reference.
private final class Owner {
    let elements: UnsafeMutableBufferPointer<Float>
    init(_ values: [Float]) {
        elements = .allocate(capacity: values.count)
        _ = elements.initialize(from: values)
    }
    deinit { elements.deallocate() }
}

/// Counts releases of adopted buffers (thread-safe enough for these single-threaded tests).
private final class ReleaseLog: @unchecked Sendable {
    var released: [(address: UnsafeMutablePointer<Float>?, count: Int)] = []
}

@Suite("tensor storage")
struct TensorStorageTests {
    @Test("owned storage: aligned, copies share it until one of them is written")
    func copyOnWrite() {
        let a = Tensor([1, 2, 3, 4], shape: [2, 2])
        #expect(a.storage.kind == .owned && a.storage.isWritable)
        a.withUnsafeBufferPointer { #expect(Int(bitPattern: $0.baseAddress) % TensorStorage.alignment == 0) }
        var b = a
        #expect(a.storage === b.storage)
        b[0, 1] = 9
        #expect(a.storage !== b.storage)
        #expect(a.toArray() == [1, 2, 3, 4] && b.toArray() == [1, 9, 3, 4])
        // A uniquely held storage is written in place.
        let before = ObjectIdentifier(b.storage)
        b[flat: 3] = -1
        #expect(ObjectIdentifier(b.storage) == before && b.toArray() == [1, 9, 3, -1])
    }

    @Test("borrowed storage keeps its owner alive, is read in place and copied before the first write")
    func borrowed() {
        weak var watched: Owner?
        var tensor: Tensor
        do {
            let owner = Owner([5, 6, 7, 8, 9, 10])
            watched = owner
            tensor = Tensor(storage: TensorStorage(borrowing: UnsafeBufferPointer(owner.elements), keepingAlive: owner), shape: [3, 2])
            tensor.withUnsafeBufferPointer { #expect($0.baseAddress == UnsafePointer(owner.elements.baseAddress)) }
        }
        #expect(watched != nil, "the owner must live as long as the tensor")
        #expect(tensor.storage.kind == .borrowed && !tensor.storage.isWritable)
        #expect(tensor[2, 1] == 10 && (tensor * 2).toArray() == [10, 12, 14, 16, 18, 20])
        let original = tensor
        tensor[0, 0] = 0
        #expect(tensor.storage.kind == .owned && tensor.toArray() == [0, 6, 7, 8, 9, 10])
        #expect(original.toArray() == [5, 6, 7, 8, 9, 10], "the borrowed memory is never written")
        #expect(watched?.elements[0] == 5)
    }

    @Test("the owner goes when the last tensor borrowing from it goes")
    func ownerReleased() {
        weak var watched: Owner?
        do {
            let owner = Owner([1, 2])
            watched = owner
            let tensor = Tensor(storage: TensorStorage(borrowing: UnsafeBufferPointer(owner.elements), keepingAlive: owner), shape: [2])
            #expect(tensor.sum().scalar == 3)
        }
        #expect(watched == nil)
    }

    @Test("adopted storage is writable and hands its buffer back exactly once")
    func adopted() {
        let log = ReleaseLog()
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: 3)
        _ = buffer.initialize(from: [1, 2, 3])
        do {
            var tensor = Tensor(storage: TensorStorage(adopting: buffer) { elements in
                log.released.append((elements.baseAddress, elements.count))
                elements.deallocate()
            }, shape: [3])
            #expect(tensor.storage.kind == .adopted && tensor.storage.isWritable)
            let copy = tensor
            tensor[flat: 0] = 4        // shared: copied into owned storage, the adopted one stays with `copy`
            #expect(tensor.storage.kind == .owned && copy.toArray() == [1, 2, 3])
            #expect(log.released.isEmpty)
        }
        #expect(log.released.count == 1)
        #expect(log.released.first?.address == buffer.baseAddress && log.released.first?.count == 3)
    }

    @Test("empty, rank-0 and equality behave like the array they replace")
    func edges() {
        let empty = Tensor([], shape: [0, 4])
        #expect(empty.count == 0 && empty.toArray().isEmpty)
        empty.withUnsafeBufferPointer { #expect($0.count == 0) }
        #expect(Tensor(scalar: 3).scalar == 3 && Tensor(scalar: 3).shape == [])
        #expect(Tensor([1, 2], shape: [2]) == Tensor([1, 2], shape: [2]))
        #expect(Tensor([1, 2], shape: [2]) != Tensor([1, 2], shape: [1, 2]))
        #expect(Tensor([.nan], shape: [1]) != Tensor([.nan], shape: [1]))
        #expect(Tensor([-0.0], shape: [1]) == Tensor([0], shape: [1]))
        #expect(Tensor(repeating: 2, shape: [3]).toArray() == [2, 2, 2])
        #expect(!Tensor([1, .nan], shape: [2]).isClose(to: Tensor([1, .nan], shape: [2])), "NaN is close to nothing")
    }

    @Test("tensors shared across tasks read the same elements while one task writes its own copy")
    func sendable() async {
        let shared = Tensor((0..<1000).map(Float.init), shape: [1000])
        let sums = await withTaskGroup(of: Float.self) { group in
            for task in 0..<4 {
                group.addTask {
                    var mine = shared
                    if task == 0 { mine[flat: 0] = 1000 }
                    return mine.sum().scalar
                }
            }
            return await group.reduce(into: [Float]()) { $0.append($1) }.sorted()
        }
        #expect(sums == [499_500, 499_500, 499_500, 500_500])
        #expect(shared[flat: 0] == 0)
    }

    @Test("a quantized matrix borrowing its blocks keeps their owner alive and computes like one owning a copy")
    func borrowedBlocks() throws {
        var generator = SeededRandom(seed: 3)
        let weight = Tensor.randomNormal([8, 64], generator: &generator)
        let owned = try QuantizedMatrix.quantizing(weight, to: .q8_0)
        weak var watched: Owner?
        let borrowed: QuantizedMatrix
        do {
            let bytes = owned.withUnsafeBytes { Array($0) }
            let owner = Owner([])
            watched = owner
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
            bytes.withUnsafeBytes { copy.copyMemory(from: $0) }
            final class Blocks { let memory: UnsafeMutableRawBufferPointer; let tag: Owner
                init(_ memory: UnsafeMutableRawBufferPointer, _ tag: Owner) { self.memory = memory; self.tag = tag }
                deinit { memory.deallocate() } }
            let blocks = Blocks(copy, owner)
            borrowed = try QuantizedMatrix(format: .q8_0, rows: 8, columns: 64, borrowing: UnsafeRawBufferPointer(copy), keepingAlive: blocks)
        }
        #expect(watched != nil)
        #expect(borrowed.storageKind == .borrowed && owned.storageKind == .owned && borrowed == owned)
        let x = Tensor.randomNormal([5, 64], generator: &generator)
        #expect(Tensor.matmul(x, borrowed, transposeW: true) == Tensor.matmul(x, owned, transposeW: true))
        #expect(throws: TensorError.self) {
            try QuantizedMatrix(format: .q8_0, rows: 8, columns: 64, borrowing: UnsafeRawBufferPointer(start: nil, count: 0), keepingAlive: Owner([]))
        }
    }
}
