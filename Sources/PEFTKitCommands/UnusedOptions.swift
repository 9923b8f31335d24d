/// Options `train` accepts that do nothing for the chosen method or data.
extension TrainCommand {
    /// Options given that do nothing for the chosen method or data, one sentence each (said once,
    /// so a mistyped run is noticed before it has trained for an hour).
    static func unusedOptionWarnings(_ parsed: ParsedArguments, method: String, hasEval: Bool, hasRetain: Bool) -> [String] {
        var warnings: [String] = []
        let given = { (flag: String) in parsed.value(flag) != nil || parsed.has(flag) }
        // The method's own options are checked by AdapterOptions.unused; targets need a layer method.
        if method == "prompt" && given("targets") { warnings.append("--targets does nothing with --method prompt") }
        if !hasEval {
            for flag in ["exact-match", "max-new-tokens"] + (hasRetain ? [] : ["eval-every"]) where given(flag) {
                warnings.append("--\(flag) does nothing without --eval or --eval-fraction")
            }
        }
        return warnings
    }
}
