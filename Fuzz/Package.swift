// swift-tools-version: 6.1
// Coverage-guided fuzz targets (libFuzzer) for every input PEFTKit reads from strangers.
// Built by Scripts/fuzz.sh with `-sanitize=fuzzer,address -parse-as-library`; see Fuzz/README.md.
import PackageDescription

let targets = ["FuzzGGUF", "FuzzSafetensors", "FuzzJSON", "FuzzTokenizer", "FuzzEncode", "FuzzChatTemplate", "FuzzModelConfiguration", "FuzzAdapterConfiguration", "FuzzDataset"]

let package = Package(
    name: "PEFTKitFuzz",
    dependencies: [.package(name: "PEFTKit", path: "..")],
    targets: targets.map { name in
        .executableTarget(name: name, dependencies: [.product(name: "PEFTKit", package: "PEFTKit")], path: "Sources/\(name)")
    }
)
