import Foundation

/// Integer arithmetic with Python's results where they fit in 64 bits and a `TemplateError` where
/// they do not. Jinja's integers never overflow; a template's `10 ** 400` or `-x` on the smallest
/// integer must be an error, not a trap.
enum TemplateArithmetic {
    static func overflow(_ operation: String, line: Int) -> TemplateError {
        TemplateError("integer overflow in \(operation) (results must fit in 64 bits)", line: line)
    }

    static func add(_ x: Int, _ y: Int, line: Int) throws -> Int {
        let (result, overflow) = x.addingReportingOverflow(y)
        if overflow { throw self.overflow("\(x) + \(y)", line: line) }
        return result
    }

    static func subtract(_ x: Int, _ y: Int, line: Int) throws -> Int {
        let (result, overflow) = x.subtractingReportingOverflow(y)
        if overflow { throw self.overflow("\(x) - \(y)", line: line) }
        return result
    }

    static func multiply(_ x: Int, _ y: Int, line: Int) throws -> Int {
        let (result, overflow) = x.multipliedReportingOverflow(by: y)
        if overflow { throw self.overflow("\(x) * \(y)", line: line) }
        return result
    }

    static func negate(_ x: Int, line: Int) throws -> Int {
        guard x != .min else { throw overflow("-(\(x))", line: line) }
        return -x
    }

    static func absolute(_ x: Int, line: Int) throws -> Int {
        guard x != .min else { throw overflow("abs(\(x))", line: line) }
        return Swift.abs(x)
    }

    /// Python's `x // y` (rounds toward negative infinity).
    static func floorDivide(_ x: Int, _ y: Int, line: Int) throws -> Int {
        guard y != 0 else { throw TemplateError("division by zero", line: line) }
        let (quotient, overflow) = x.dividedReportingOverflow(by: y)
        if overflow { throw self.overflow("\(x) // \(y)", line: line) }
        return (x % y != 0 && (x < 0) != (y < 0)) ? quotient - 1 : quotient
    }

    /// Python's `x % y` (the sign of the divisor).
    static func modulo(_ x: Int, _ y: Int, line: Int) throws -> Int {
        guard y != 0 else { throw TemplateError("division by zero", line: line) }
        if y == -1 { return 0 }  // Int.min % -1 traps in Swift; the answer is 0
        let remainder = x % y
        return remainder != 0 && (remainder < 0) != (y < 0) ? remainder + y : remainder
    }

    /// `x ** y` for `y ≥ 0`, by squaring with overflow checks.
    static func power(_ x: Int, _ y: Int, line: Int) throws -> Int {
        var result = 1, base = x, exponent = y
        while exponent > 0 {
            if exponent & 1 == 1 {
                let (product, overflow) = result.multipliedReportingOverflow(by: base)
                if overflow { throw self.overflow("\(x) ** \(y)", line: line) }
                result = product
            }
            exponent >>= 1
            if exponent > 0 {
                let (square, overflow) = base.multipliedReportingOverflow(by: base)
                if overflow { throw self.overflow("\(x) ** \(y)", line: line) }
                base = square
            }
        }
        return result
    }

    /// `int(d)`: truncates toward zero; an error for NaN, infinities and values beyond 64 bits.
    static func integer(_ d: Double, line: Int) throws -> Int {
        guard d.isFinite, d >= -9.223372036854775808e18, d < 9.223372036854775808e18 else {
            throw TemplateError("\(TemplateValue.pythonFloat(d)) does not fit in a 64-bit integer", line: line)
        }
        return Int(d)
    }
}
