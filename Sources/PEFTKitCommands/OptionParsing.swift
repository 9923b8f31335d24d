/// Typed values of command-line options; a bad value is a usage error naming the option.
extension ParsedArguments {
    func integer(_ name: String, command: String, default value: Int, minimum: Int = 0) throws -> Int {
        guard let text = self.value(name) else { return value }
        guard let number = Int(text), number >= minimum else {
            throw UsageError("\(command): --\(name) expects an integer ≥ \(minimum), got '\(text)'")
        }
        return number
    }

    func float(_ name: String, command: String, default value: Float, range: ClosedRange<Float>) throws -> Float {
        guard let text = self.value(name) else { return value }
        guard let number = Float(text), number.isFinite, range.contains(number) else {
            throw UsageError("\(command): --\(name) expects a number in \(range.lowerBound)…\(range.upperBound), got '\(text)'")
        }
        return number
    }

    func unsigned(_ name: String, command: String, default value: UInt64) throws -> UInt64 {
        guard let text = self.value(name) else { return value }
        guard let number = UInt64(text) else { throw UsageError("\(command): --\(name) expects a non-negative integer, got '\(text)'") }
        return number
    }
}
