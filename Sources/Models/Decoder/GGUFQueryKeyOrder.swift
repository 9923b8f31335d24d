/// llama.cpp's row order for the query and key projections of the `llama` architecture: its
/// converter interleaves each head's two rotary halves, so GGUF row `2i + s` of a head holds Hugging
/// Face row `s·hd/2 + i`. Rows move whole, so both directions work on float rows and on rows of
/// quantized blocks (`columns` elements of any kind per row).
public enum GGUFQueryKeyOrder {
    /// Hugging Face rows → GGUF rows (what writing a GGUF file, or a LoRA B for one, does).
    public static func toGGUF<Element>(_ values: [Element], rows: Int, columns: Int, heads: Int) -> [Element] {
        reorder(values, rows: rows, columns: columns, heads: heads, toGGUF: true)
    }

    /// GGUF rows → Hugging Face rows (what loading does).
    public static func fromGGUF<Element>(_ values: [Element], rows: Int, columns: Int, heads: Int) -> [Element] {
        reorder(values, rows: rows, columns: columns, heads: heads, toGGUF: false)
    }

    private static func reorder<Element>(_ values: [Element], rows: Int, columns: Int, heads: Int, toGGUF: Bool) -> [Element] {
        let headDimension = rows / heads
        var out = values
        for head in 0..<heads {
            for s in 0..<2 {
                for i in 0..<(headDimension / 2) {
                    let gguf = head * headDimension + 2 * i + s
                    let huggingFace = head * headDimension + s * headDimension / 2 + i
                    let (source, target) = toGGUF ? (huggingFace, gguf) : (gguf, huggingFace)
                    for c in 0..<columns { out[target * columns + c] = values[source * columns + c] }
                }
            }
        }
        return out
    }
}
