/// Accuracy, per-class and macro precision/recall/F1, and the confusion matrix of predictions.
public struct ClassificationMetrics: Sendable, Equatable {
    /// `matrix[truth][prediction]` counts.
    public var confusionMatrix: [[Int]]

    /// Counts `predictions` against `truths` over `classes` classes.
    public init(predictions: [Int], truths: [Int], classes: Int) {
        precondition(predictions.count == truths.count, "ClassificationMetrics: \(predictions.count) predictions for \(truths.count) truths")
        var matrix = Array(repeating: Array(repeating: 0, count: classes), count: classes)
        for (prediction, truth) in zip(predictions, truths) where truth >= 0 && truth < classes && prediction >= 0 && prediction < classes {
            matrix[truth][prediction] += 1
        }
        confusionMatrix = matrix
    }

    /// Number of classes.
    public var classes: Int { confusionMatrix.count }
    /// Examples counted.
    public var total: Int { confusionMatrix.reduce(0) { $0 + $1.reduce(0, +) } }
    /// Correct predictions / examples.
    public var accuracy: Double {
        total == 0 ? 0 : Double((0..<classes).reduce(0) { $0 + confusionMatrix[$1][$1] }) / Double(total)
    }
    /// Of the examples predicted as class `c`, the fraction that are `c` (0 when none was predicted).
    public func precision(_ c: Int) -> Double {
        let predicted = (0..<classes).reduce(0) { $0 + confusionMatrix[$1][c] }
        return predicted == 0 ? 0 : Double(confusionMatrix[c][c]) / Double(predicted)
    }
    /// Of the examples of class `c`, the fraction predicted as `c` (0 when there is none).
    public func recall(_ c: Int) -> Double {
        let actual = confusionMatrix[c].reduce(0, +)
        return actual == 0 ? 0 : Double(confusionMatrix[c][c]) / Double(actual)
    }
    /// Harmonic mean of precision and recall of class `c` (0 when both are 0).
    public func f1(_ c: Int) -> Double {
        let p = precision(c), r = recall(c)
        return p + r == 0 ? 0 : 2 * p * r / (p + r)
    }
    /// Classes that occur in the truths or the predictions (scikit-learn's label set for macro averages).
    var presentClasses: [Int] {
        (0..<classes).filter { c in confusionMatrix[c].reduce(0, +) > 0 || (0..<classes).contains { confusionMatrix[$0][c] > 0 } }
    }
    private func macro(_ metric: (Int) -> Double) -> Double {
        let present = presentClasses
        return present.isEmpty ? 0 : present.reduce(0) { $0 + metric($1) } / Double(present.count)
    }
    /// Unweighted mean precision over the classes present.
    public var macroPrecision: Double { macro(precision) }
    /// Unweighted mean recall over the classes present.
    public var macroRecall: Double { macro(recall) }
    /// Unweighted mean F1 over the classes present (scikit-learn's `f1_score(average="macro")`).
    public var macroF1: Double { macro(f1) }

    /// The matrix as aligned text with class names (rows: truth, columns: prediction).
    public func table(labels: [String]) -> String {
        let names = (0..<classes).map { $0 < labels.count ? labels[$0] : String($0) }
        let width = max(6, (names.map(\.count).max() ?? 0) + 1, String(total).count + 1)
        func pad(_ text: String) -> String { String(repeating: " ", count: max(0, width - text.count)) + text }
        var lines = [pad("truth\\predicted") + names.map(pad).joined()]
        for (row, name) in names.enumerated() { lines.append(pad(name) + confusionMatrix[row].map { pad(String($0)) }.joined()) }
        return lines.joined(separator: "\n")
    }
}
