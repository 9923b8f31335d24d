import Foundation

/// A line chart as a standalone SVG element: one polyline per series, a circle per point (carrying
/// `data-step` and `data-value`, so the plotted numbers can be checked), axes with five ticks each,
/// and a legend. Written for the training report; no scripts, no external resources.
struct SVGChart {
    /// One line: a name and its (step, value) points.
    struct Series {
        var name: String
        var points: [(step: Int, value: Double)]
    }

    var title: String
    var series: [Series]
    var width = 640.0
    /// The plot's own height; the legend adds a line per series below it.
    var plotHeight = 280.0
    var logarithmic = false

    /// The whole chart's height: the plot and one legend line per series.
    var height: Double { plotHeight + 8 + 15 * Double(series.count) }

    /// Colours that stay apart for the usual handful of series (Tableau 10).
    static let palette = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]

    private let left = 64.0, right = 16.0, top = 34.0, bottom = 44.0

    /// The chart's plot area and value range, from the points.
    var bounds: (minStep: Int, maxStep: Int, low: Double, high: Double) {
        let points = series.flatMap(\.points).filter { $0.value.isFinite && (!logarithmic || $0.value > 0) }
        let steps = points.map(\.step), values = points.map { transform($0.value) }
        var low = values.min() ?? 0, high = values.max() ?? 1
        if high - low < 1e-12 { low -= 0.5; high += 0.5 }
        let margin = (high - low) * 0.05
        // Values that cannot be negative (losses, KL, rates) keep 0 as the floor.
        let floor = !logarithmic && (values.min() ?? 0) >= 0 ? max(0, low - margin) : low - margin
        return (steps.min() ?? 0, max((steps.max() ?? 1), (steps.min() ?? 0) + 1), floor, high + margin)
    }

    func transform(_ value: Double) -> Double { logarithmic ? log10(value) : value }

    /// Where a point is drawn.
    func position(step: Int, value: Double) -> (x: Double, y: Double) { position(step: step, value: value, in: bounds) }

    /// Where a point is drawn, with the bounds computed once for the whole chart.
    func position(step: Int, value: Double, in b: (minStep: Int, maxStep: Int, low: Double, high: Double)) -> (x: Double, y: Double) {
        let x = left + (width - left - right) * Double(step - b.minStep) / Double(b.maxStep - b.minStep)
        let y = top + (plotHeight - top - bottom) * (1 - (transform(value) - b.low) / (b.high - b.low))
        return (x, y)
    }

    /// The styles the report's page gives charts, for a chart shown on its own.
    static let style = """
    <style>.chart { font-family: Helvetica, Arial, sans-serif; background: #fff } .title { font-size: 14px; font-weight: 600; fill: #222 }
    .tick, .axis, .legend { font-size: 11px; fill: #555 } .frame { fill: none; stroke: #bbb } .grid { stroke: #eee }</style>

    """

    /// The chart as a standalone SVG document, its styles inside.
    var document: String {
        var element = svg
        if let end = element.firstIndex(of: "\n") { element.insert(contentsOf: "\n" + Self.style, at: end) }
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + element
    }

    /// The SVG element.
    var svg: String {
        let b = bounds
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"\(Int(width))\" height=\"\(Int(height))\" "
            + "viewBox=\"0 0 \(Int(width)) \(Int(height))\" role=\"img\" aria-label=\"\(Self.escape(title))\">\n"
        out += "<text x=\"\(Int(left))\" y=\"20\" class=\"title\">\(Self.escape(title))</text>\n"
        let plotBottom = plotHeight - bottom, plotRight = width - right
        out += "<rect x=\"\(left)\" y=\"\(top)\" width=\"\(plotRight - left)\" height=\"\(plotBottom - top)\" class=\"frame\"/>\n"
        for index in 0...4 {
            let fraction = Double(index) / 4
            let value = b.low + (b.high - b.low) * fraction
            let y = plotBottom - (plotBottom - top) * fraction
            let label = logarithmic ? Self.format(pow(10, value)) : Self.format(value)
            out += "<line x1=\"\(left)\" y1=\(Self.number(y)) x2=\"\(plotRight)\" y2=\(Self.number(y)) class=\"grid\"/>"
            out += "<text x=\"\(left - 6)\" y=\(Self.number(y + 4)) class=\"tick\" text-anchor=\"end\">\(label)</text>\n"
            let step = Double(b.minStep) + Double(b.maxStep - b.minStep) * fraction
            let x = left + (plotRight - left) * fraction
            out += "<text x=\(Self.number(x)) y=\"\(plotBottom + 16)\" class=\"tick\" text-anchor=\"middle\">\(Int(step.rounded()))</text>\n"
        }
        out += "<text x=\"\((left + plotRight) / 2)\" y=\"\(plotHeight - 8)\" class=\"axis\" text-anchor=\"middle\">step</text>\n"
        for (index, line) in series.enumerated() {
            let colour = Self.palette[index % Self.palette.count]
            let points = line.points.filter { $0.value.isFinite && (!logarithmic || $0.value > 0) }
            let coordinates = points.map { position(step: $0.step, value: $0.value, in: b) }
            out += "<g class=\"series\" data-name=\"\(Self.escape(line.name))\" stroke=\"\(colour)\" fill=\"\(colour)\">\n"
            if coordinates.count > 1 {
                out += "<polyline fill=\"none\" stroke-width=\"1.8\" points=\""
                    + coordinates.map { "\(Self.plain($0.x)),\(Self.plain($0.y))" }.joined(separator: " ") + "\"/>\n"
            }
            for (point, at) in zip(points, coordinates) {
                out += "<circle cx=\(Self.number(at.x)) cy=\(Self.number(at.y)) r=\"2.6\" data-step=\"\(point.step)\" data-value=\"\(point.value)\">"
                    + "<title>\(Self.escape(line.name)) step \(point.step): \(Self.format(point.value))</title></circle>\n"
            }
            out += "</g>\n"
            // The legend, below the plot: it never covers a line.
            let legendY = plotHeight + 10 + Double(index) * 15
            out += "<rect x=\(Self.number(left)) y=\(Self.number(legendY - 9)) width=\"10\" height=\"10\" fill=\"\(colour)\"/>"
            out += "<text x=\(Self.number(left + 15)) y=\(Self.number(legendY)) class=\"legend\">\(Self.escape(line.name))</text>\n"
        }
        return out + "</svg>\n"
    }

    static func plain(_ value: Double) -> String { String(format: "%.2f", value) }
    static func number(_ value: Double) -> String { "\"\(plain(value))\"" }

    /// A tick label: up to four significant digits.
    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "–" }
        if value != 0 && (abs(value) < 1e-3 || abs(value) >= 1e5) { return String(format: "%.2e", value) }
        return String(format: "%.4g", value)
    }

    /// Text made safe for XML.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
