import Foundation
import Synchronization

/// Byte-pair encoding (Hugging Face `BPE`): start from characters, repeatedly apply the
/// lowest-ranked merge. Merging uses a heap over candidate pairs, so a word of n characters costs
/// O(n log n) even when it is megabytes long.
final class BPEModel: Sendable {
    let vocabulary: Vocabulary
    var tokens: [String?] { vocabulary.tokens }
    /// (left id, right id) packed in 64 bits → (rank, merged id).
    let merges: [UInt64: (rank: Int32, id: Int32)]
    let unknownToken: String?
    let continuingSubwordPrefix: String
    let endOfWordSuffix: String
    let fuseUnknown: Bool
    let byteFallback: Bool
    let ignoreMerges: Bool
    /// `<0x00>` … `<0xFF>` ids when byte fallback is on.
    let byteTokenIDs: [Int?]
    /// Ids of the single-scalar tokens, for the common undecorated case (no prefix or suffix).
    let singleScalarIDs: [UInt32: Int]

    /// Recently tokenized words (thread-safe; cleared when full).
    private let cache = Mutex<[ExactString: [Int]]>([:])
    private let cacheLimit = 10_000

    init(vocabulary: Vocabulary, merges: [(String, String)], unknownToken: String?, continuingSubwordPrefix: String,
         endOfWordSuffix: String, fuseUnknown: Bool, byteFallback: Bool, ignoreMerges: Bool) throws {
        self.vocabulary = vocabulary
        var table: [UInt64: (Int32, Int32)] = [:]
        table.reserveCapacity(merges.count)
        let prefixLength = continuingSubwordPrefix.unicodeScalars.count
        for (rank, (left, right)) in merges.enumerated() {
            guard let a = vocabulary[left] else {
                throw TokenizerError.invalidValue(field: "model.merges[\(rank)]", reason: "token '\(left)' is not in the vocabulary")
            }
            guard let b = vocabulary[right] else {
                throw TokenizerError.invalidValue(field: "model.merges[\(rank)]", reason: "token '\(right)' is not in the vocabulary")
            }
            let rightPart = prefixLength > 0 && right.hasExactPrefix(continuingSubwordPrefix) ? right.droppingScalars(prefixLength) : right
            guard let merged = vocabulary[left + rightPart] else {
                throw TokenizerError.invalidValue(field: "model.merges[\(rank)]", reason: "merged token '\(left + rightPart)' is not in the vocabulary")
            }
            let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
            if table[key] == nil { table[key] = (Int32(rank), Int32(merged)) }
        }
        self.merges = table
        self.unknownToken = unknownToken
        self.continuingSubwordPrefix = continuingSubwordPrefix
        self.endOfWordSuffix = endOfWordSuffix
        self.fuseUnknown = fuseUnknown
        self.byteFallback = byteFallback
        self.ignoreMerges = ignoreMerges
        self.byteTokenIDs = (0..<256).map { vocabulary[String(format: "<0x%02X>", $0)] }
        var singles: [UInt32: Int] = [:]
        for (id, token) in vocabulary.tokens.enumerated() {
            guard let token, token.unicodeScalars.count == 1, let scalar = token.unicodeScalars.first else { continue }
            if singles[scalar.value] == nil || vocabulary[token] == id { singles[scalar.value] = id }
        }
        self.singleScalarIDs = singles
        if let unknownToken, vocabulary[unknownToken] == nil {
            throw TokenizerError.invalidValue(field: "model.unk_token", reason: "'\(unknownToken)' is not in the vocabulary")
        }
    }

    /// Token ids of one pre-token.
    func tokenize(_ word: [Unicode.Scalar]) -> [Int] {
        guard !word.isEmpty else { return [] }
        let text = ScalarText.string(word)
        let key = ExactString(text)
        if let hit = cache.withLock({ $0[key] }) { return hit }
        let result = tokenizeUncached(word, text: text)
        cache.withLock { cache in
            if cache.count >= cacheLimit { cache.removeAll(keepingCapacity: true) }
            cache[key] = result
        }
        return result
    }

    private func tokenizeUncached(_ word: [Unicode.Scalar], text: String) -> [Int] {
        if ignoreMerges, let id = vocabulary[text + endOfWordSuffix] { return [id] }
        // Initial symbols: one per scalar (with prefix/suffix decorations), byte fallback or unknown.
        var symbols: [Int] = []
        symbols.reserveCapacity(word.count)
        var pendingUnknown = false
        let undecorated = continuingSubwordPrefix.isEmpty && endOfWordSuffix.isEmpty
        for (index, scalar) in word.enumerated() {
            if undecorated, let id = singleScalarIDs[scalar.value] {
                symbols.append(id)
                pendingUnknown = false
                continue
            }
            var piece = String(Character(scalar))
            if index > 0 { piece = continuingSubwordPrefix + piece }
            if index == word.count - 1 { piece += endOfWordSuffix }
            if let id = vocabulary[piece] {
                symbols.append(id)
                pendingUnknown = false
            } else if byteFallback, case let bytes = Array(String(Character(scalar)).utf8),
                      bytes.allSatisfy({ byteTokenIDs[Int($0)] != nil }) {
                symbols.append(contentsOf: bytes.map { byteTokenIDs[Int($0)]! })
                pendingUnknown = false
            } else if let unknownToken, let unknown = vocabulary[unknownToken] {
                if !(fuseUnknown && pendingUnknown) { symbols.append(unknown) }
                pendingUnknown = true
            }
        }
        return applyMerges(symbols)
    }

    /// Doubly linked symbols + a binary heap of (rank, position) candidates.
    private func applyMerges(_ initial: [Int]) -> [Int] {
        let n = initial.count
        guard n > 1 else { return initial }
        var ids = initial
        var next = Array(1...n)  // n means none
        var previous = Array(-1..<(n - 1))
        var alive = [Bool](repeating: true, count: n)
        var heap = MergeHeap()
        func consider(_ i: Int) {
            let j = next[i]
            guard j < n, let merge = merges[UInt64(UInt32(ids[i])) << 32 | UInt64(UInt32(ids[j]))] else { return }
            heap.push(rank: merge.rank, position: Int32(i), left: Int32(ids[i]), right: Int32(ids[j]))
        }
        for i in 0..<(n - 1) { consider(i) }
        while let top = heap.pop() {
            let i = Int(top.position)
            guard alive[i], ids[i] == Int(top.left) else { continue }
            let j = next[i]
            guard j < n, alive[j], ids[j] == Int(top.right),
                  let merge = merges[UInt64(UInt32(ids[i])) << 32 | UInt64(UInt32(ids[j]))], merge.rank == top.rank else { continue }
            ids[i] = Int(merge.id)
            alive[j] = false
            next[i] = next[j]
            if next[j] < n { previous[next[j]] = i }
            if previous[i] >= 0 { consider(previous[i]) }
            consider(i)
        }
        var result: [Int] = []
        var i = 0
        while i < n { result.append(ids[i]); i = next[i] }
        return result
    }
}

/// Min-heap ordered by (rank, position): the lowest rank merges first, leftmost among equals.
struct MergeHeap {
    struct Entry { var rank: Int32; var position: Int32; var left: Int32; var right: Int32 }
    private var items: [Entry] = []

    private static func less(_ a: Entry, _ b: Entry) -> Bool {
        a.rank != b.rank ? a.rank < b.rank : a.position < b.position
    }

    mutating func push(rank: Int32, position: Int32, left: Int32, right: Int32) {
        items.append(Entry(rank: rank, position: position, left: left, right: right))
        var child = items.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard MergeHeap.less(items[child], items[parent]) else { break }
            items.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < items.count && MergeHeap.less(items[left], items[smallest]) { smallest = left }
                if right < items.count && MergeHeap.less(items[right], items[smallest]) { smallest = right }
                if smallest == parent { break }
                items.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }
}
