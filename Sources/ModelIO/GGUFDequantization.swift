/// Dequantization of GGUF tensor data to Float, block by block, following ggml's reference
/// formulas (`dequantize_row_*` in ggml-quants.c). Results match the `gguf` Python package exactly.
public enum GGUFDequantization {
    /// Dequantizes `count` elements of `type` from `bytes` (which must hold `count / blockElements` blocks).
    /// - Throws: `ModelFileError.invalidStructure` for types without a dequantizer or a size mismatch.
    public static func floats(_ bytes: UnsafeRawBufferPointer, type: GGUFTensorType, count: Int) throws -> [Float] {
        let (blockElements, blockBytes) = type.block
        guard count % blockElements == 0, bytes.count == count / blockElements * blockBytes else {
            throw ModelFileError.invalidStructure("\(bytes.count) bytes do not hold \(count) elements of \(type)")
        }
        let blocks = count / blockElements
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { y in
            let base = bytes.baseAddress!
            func half(_ offset: Int) -> Float { HalfPrecision.float(fromHalf: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt16.self))) }
            func byte(_ offset: Int) -> UInt8 { base.load(fromByteOffset: offset, as: UInt8.self) }
            switch type {
            case .f32:
                for i in 0..<count { y[i] = Float(bitPattern: UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))) }
            case .f16:
                for i in 0..<count { y[i] = half(2 * i) }
            case .bf16:
                for i in 0..<count { y[i] = HalfPrecision.float(fromBFloat16: UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) }
            case .q8_0:
                for b in 0..<blocks {
                    let o = b * 34, d = half(o)
                    for j in 0..<32 { y[b * 32 + j] = d * Float(Int8(bitPattern: byte(o + 2 + j))) }
                }
            case .q4_0:
                for b in 0..<blocks {
                    let o = b * 18, d = half(o)
                    for j in 0..<16 {
                        let q = byte(o + 2 + j)
                        y[b * 32 + j] = Float(Int(q & 0xF) - 8) * d
                        y[b * 32 + j + 16] = Float(Int(q >> 4) - 8) * d
                    }
                }
            case .q4_1:
                for b in 0..<blocks {
                    let o = b * 20, d = half(o), m = half(o + 2)
                    for j in 0..<16 {
                        let q = byte(o + 4 + j)
                        y[b * 32 + j] = Float(q & 0xF) * d + m
                        y[b * 32 + j + 16] = Float(q >> 4) * d + m
                    }
                }
            case .q5_0:
                for b in 0..<blocks {
                    let o = b * 22, d = half(o)
                    let qh = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: o + 2, as: UInt32.self))
                    for j in 0..<16 {
                        let q = byte(o + 6 + j)
                        let high0 = UInt8(((qh >> UInt32(j)) << 4) & 0x10)
                        let high1 = UInt8((qh >> UInt32(j + 12)) & 0x10)
                        y[b * 32 + j] = Float(Int((q & 0xF) | high0) - 16) * d
                        y[b * 32 + j + 16] = Float(Int((q >> 4) | high1) - 16) * d
                    }
                }
            case .q5_1:
                for b in 0..<blocks {
                    let o = b * 24, d = half(o), m = half(o + 2)
                    let qh = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: o + 4, as: UInt32.self))
                    for j in 0..<16 {
                        let q = byte(o + 8 + j)
                        let high0 = UInt8(((qh >> UInt32(j)) << 4) & 0x10)
                        let high1 = UInt8((qh >> UInt32(j + 12)) & 0x10)
                        y[b * 32 + j] = Float((q & 0xF) | high0) * d + m
                        y[b * 32 + j + 16] = Float((q >> 4) | high1) * d + m
                    }
                }
            case .q4_K:
                for b in 0..<blocks {
                    let o = b * 144, d = half(o), dmin = half(o + 2)
                    let scales = o + 4
                    func scaleMin(_ j: Int) -> (Float, Float) {
                        if j < 4 { return (Float(byte(scales + j) & 63), Float(byte(scales + j + 4) & 63)) }
                        let sc = (byte(scales + j + 4) & 0xF) | ((byte(scales + j - 4) >> 6) << 4)
                        let mn = (byte(scales + j + 4) >> 4) | ((byte(scales + j) >> 6) << 4)
                        return (Float(sc), Float(mn))
                    }
                    var q = o + 16
                    var out = b * 256
                    var index = 0
                    for _ in 0..<4 {
                        let (sc1, m1) = scaleMin(index), (sc2, m2) = scaleMin(index + 1)
                        let d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2
                        for l in 0..<32 { y[out + l] = d1 * Float(byte(q + l) & 0xF) - min1 }
                        for l in 0..<32 { y[out + 32 + l] = d2 * Float(byte(q + l) >> 4) - min2 }
                        q += 32; out += 64; index += 2
                    }
                }
            case .q6_K:
                for b in 0..<blocks {
                    let o = b * 210
                    var ql = o, qh = o + 128, sc = o + 192
                    let d = half(o + 208)
                    var out = b * 256
                    for _ in 0..<2 {
                        for l in 0..<32 {
                            let s = l / 16
                            let h = byte(qh + l)
                            let q1 = Int(Int8(bitPattern: (byte(ql + l) & 0xF) | ((h & 3) << 4))) - 32
                            let q2 = Int(Int8(bitPattern: (byte(ql + l + 32) & 0xF) | (((h >> 2) & 3) << 4))) - 32
                            let q3 = Int(Int8(bitPattern: (byte(ql + l) >> 4) | (((h >> 4) & 3) << 4))) - 32
                            let q4 = Int(Int8(bitPattern: (byte(ql + l + 32) >> 4) | (((h >> 6) & 3) << 4))) - 32
                            func scale(_ k: Int) -> Float { Float(Int8(bitPattern: byte(sc + k))) }
                            y[out + l] = d * scale(s) * Float(q1)
                            y[out + l + 32] = d * scale(s + 2) * Float(q2)
                            y[out + l + 64] = d * scale(s + 4) * Float(q3)
                            y[out + l + 96] = d * scale(s + 6) * Float(q4)
                        }
                        out += 128; ql += 64; qh += 32; sc += 8
                    }
                }
            default:
                break
            }
        }
        if ![.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q6_K].contains(type) {
            throw ModelFileError.invalidStructure("no dequantizer for GGUF type \(type)")
        }
        return out
    }
}

extension GGUFFile {
    /// A tensor's values as Float, dequantized when stored quantized.
    public func floats(of tensor: GGUFTensorInfo) throws -> [Float] {
        try data.withUnsafeBytes { raw in
            try GGUFDequantization.floats(UnsafeRawBufferPointer(rebasing: raw[(dataOffset + tensor.offset)..<(dataOffset + tensor.offset + tensor.byteCount)]),
                                          type: tensor.type, count: tensor.elementCount)
        }
    }
}
