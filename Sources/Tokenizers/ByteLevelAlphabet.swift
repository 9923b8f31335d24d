/// GPT-2's reversible map between bytes and printable Unicode characters: printable Latin-1 bytes
/// map to themselves, the other 68 bytes to U+0100 onwards in byte order. Byte-level BPE
/// vocabularies are written in this alphabet (a space is `Ġ`, a newline `Ċ`).
enum ByteLevelAlphabet {
    /// `scalar[b]` is the character standing for byte `b`.
    static let scalars: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let printable = (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
            if printable {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The byte a character stands for, or nil for characters outside the alphabet.
    static let bytes: [UInt32: UInt8] = {
        var map: [UInt32: UInt8] = [:]
        for (byte, scalar) in scalars.enumerated() { map[scalar.value] = UInt8(byte) }
        return map
    }()

    /// Maps UTF-8 bytes to the alphabet.
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        ScalarText.string(encodeScalars(bytes))
    }

    /// Maps UTF-8 bytes to alphabet scalars.
    static func encodeScalars<S: Sequence>(_ bytes: S) -> [Unicode.Scalar] where S.Element == UInt8 {
        bytes.map { scalars[Int($0)] }
    }
}
