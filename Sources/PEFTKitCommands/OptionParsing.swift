/// Typed values of command-line options; a bad value is a usage error naming the option.
extension ParsedArguments {
    func integer(_ name: String, command: String, default value: Int, minimum: Int = 0, maximum: Int = .max) throws -> Int {
        guard let text = self.value(name) else { return value }
        guard let number = Int(text), number >= minimum, number <= maximum else {
            let range = maximum == .max ? "≥ \(minimum)" : "in \(minimum)…\(maximum)"
            throw UsageError("\(command): --\(name) expects an integer \(range), got '\(text)'")
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

    func optionalInteger(_ name: String, command: String, minimum: Int = 0, maximum: Int = .max) throws -> Int? {
        guard value(name) != nil else { return nil }
        return try integer(name, command: command, default: minimum, minimum: minimum, maximum: maximum)
    }

    func double(_ name: String, command: String, default value: Double, range: ClosedRange<Double>) throws -> Double {
        guard let text = self.value(name) else { return value }
        guard let number = Double(text), number.isFinite, range.contains(number) else {
            throw UsageError("\(command): --\(name) expects a number in \(range.lowerBound)…\(range.upperBound), got '\(text)'")
        }
        return number
    }

    func choice(_ name: String, command: String, default value: String, among choices: [String]) throws -> String {
        guard let text = self.value(name) else { return value }
        guard choices.contains(text) else {
            throw UsageError("\(command): --\(name) expects one of \(choices.joined(separator: ", ")), got '\(text)'")
        }
        return text
    }

    func choice<T: RawRepresentable & CaseIterable>(_ name: String, command: String, default value: T) throws -> T where T.RawValue == String {
        let text = try choice(name, command: command, default: value.rawValue, among: T.allCases.map(\.rawValue))
        return T(rawValue: text)!
    }
}
