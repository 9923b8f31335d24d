// swift-tools-version: 6.1
// Coverage-guided fuzz targets (libFuzzer) for every input PEFTKit reads from strangers.
// Built by Scripts/fuzz.sh with `-sanitize=fuzzer,address -parse-as-library`; see Fuzz/README.md.
import PackageDescription

let targets = ["FuzzGGUF", "FuzzSafetensors", "FuzzJSON", "FuzzTokenizer", "FuzzEncode", "FuzzChatTemplate", "FuzzModelConfiguration", "FuzzAdapterConfiguration", "FuzzDataset",
               "FuzzHTTPRequest"]
/// The library product a target reads through (the umbrella unless it needs another).
let products = ["FuzzHTTPRequest": "HTTPServing"]

let package = Package(
    name: "PEFTKitFuzz",
    dependencies: [.package(name: "PEFTKit", path: "..")],
    targets: targets.map { name in
        .executableTarget(name: name, dependencies: [.product(name: products[name] ?? "PEFTKit", package: "PEFTKit")], path: "Sources/\(name)")
    }
)
