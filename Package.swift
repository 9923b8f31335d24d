// swift-tools-version: 6.1
// PEFTKit — parameter-efficient fine-tuning of language models on CPUs, in Swift.
//
// Layers (bottom to top): CKernels (C SIMD microkernels) → Tensors → Autograd → NN → … → PEFTKit (umbrella).
// The optional `OpenBLAS` trait routes GEMM through the system OpenBLAS (Debian: libopenblas-dev);
// the optional `MPI` trait lets `mpirun -n N peftkit train` train data-parallel (Debian: libopenmpi-dev).

import PackageDescription

let package = Package(
    name: "PEFTKit",
    products: [
        .library(name: "PEFTKit", targets: ["PEFTKit"]),
        .executable(name: "peftkit", targets: ["peftkit"]),
        .library(name: "Tensors", targets: ["Tensors"]),
        .library(name: "Autograd", targets: ["Autograd"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "Tokenizers", targets: ["Tokenizers"]),
        .library(name: "ModelIO", targets: ["ModelIO"]),
        .library(name: "Models", targets: ["Models"]),
        .library(name: "PEFT", targets: ["PEFT"]),
        .library(name: "Training", targets: ["Training"]),
        .library(name: "HTTPServing", targets: ["HTTPServing"]),
        .library(name: "Serving", targets: ["Serving"]),
    ],
    traits: [
        .trait(
            name: "OpenBLAS",
            description: "Route single-precision GEMM through the system OpenBLAS (cblas_sgemm). Needs libopenblas-dev."
        ),
        .trait(
            name: "MPI",
            description: "Data-parallel training across processes and machines over Open MPI (mpirun -n N peftkit train). Needs libopenmpi-dev."
        ),
    ],
    targets: [
        // C microkernels compiled by the toolchain's clang: per-function target attributes + runtime CPU detection.
        .target(name: "CKernels"),
        .systemLibrary(name: "COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(
            name: "Tensors",
            dependencies: [
                "CKernels",
                .target(name: "COpenBLAS", condition: .when(traits: ["OpenBLAS"])),
            ]
        ),
        .target(name: "Autograd", dependencies: ["Tensors"]),
        .target(name: "NN", dependencies: ["Tensors", "Autograd"]),
        .target(name: "ModelIO"),
        .target(name: "Tokenizers", dependencies: ["ModelIO"]),
        .target(name: "Models", dependencies: ["Tensors", "Autograd", "NN", "ModelIO", "Tokenizers"]),
        .target(name: "PEFT", dependencies: ["Tensors", "Autograd", "NN", "ModelIO", "Models"]),
        // A SIGINT flag (async-signal-safe), so training can stop after the current step on Ctrl-C.
        .target(name: "CSignals"),
        .target(name: "Training", dependencies: ["CSignals", "Tensors", "Autograd", "NN", "ModelIO", "Tokenizers", "Models", "PEFT",
                                                 .target(name: "CMPI", condition: .when(traits: ["MPI"]))]),
        // HTTP/1.1 on POSIX sockets (the OpenAI-compatible server's transport): no model dependencies.
        .target(name: "HTTPServing"),
        // The OpenAI-compatible server: a base model and its adapters behind HTTPServing.
        .target(name: "Serving", dependencies: ["HTTPServing", "ModelIO", "Tokenizers", "Models", "NN", "PEFT"]),
        .target(name: "PEFTKit", dependencies: ["Tensors", "Autograd", "NN", "ModelIO", "Tokenizers", "Models", "PEFT", "Training"]),
        .target(name: "PEFTKitCommands", dependencies: ["PEFTKit", "Serving", "HTTPServing", "CSignals"]),
        .executableTarget(name: "peftkit", dependencies: ["PEFTKitCommands", "Tensors"]),

        .executableTarget(
            name: "InstructionTuning",
            dependencies: ["PEFTKit"],
            path: "Examples/InstructionTuning",
            exclude: ["data", "README.md"]
        ),

        .executableTarget(
            name: "TextClassification",
            dependencies: ["PEFTKit"],
            path: "Examples/TextClassification",
            exclude: ["data", "README.md"]
        ),

        .executableTarget(
            name: "RankSweep",
            dependencies: ["PEFTKit"],
            path: "Benchmarks/RankSweep"
        ),

        .executableTarget(
            name: "ForgettingCurves",
            dependencies: ["PEFTKit"],
            path: "Benchmarks/ForgettingCurves"
        ),

        .executableTarget(
            name: "GEMMBenchmark",
            dependencies: [
                "Tensors",
                .target(name: "COpenBLAS", condition: .when(traits: ["OpenBLAS"])),
            ],
            path: "Benchmarks/GEMMBenchmark"
        ),

        .executableTarget(
            name: "TokenizerBenchmark",
            dependencies: ["Tokenizers"],
            path: "Benchmarks/TokenizerBenchmark",
            exclude: ["reference.py", "hostile_reference.json"]
        ),

        .executableTarget(
            name: "DecodeBenchmark",
            dependencies: ["Models", "Tensors"],
            path: "Benchmarks/DecodeBenchmark"
        ),

        .executableTarget(
            name: "AttentionBenchmark",
            dependencies: ["Tensors", "Autograd"],
            path: "Benchmarks/AttentionBenchmark"
        ),

        .executableTarget(
            name: "TrainingStepBenchmark",
            dependencies: ["Tensors", "Autograd", "NN", "Models", "PEFT"],
            path: "Benchmarks/TrainingStepBenchmark"
        ),

        .testTarget(name: "TensorsTests", dependencies: ["Tensors", "ModelIO"]),
        .testTarget(name: "AutogradTests", dependencies: ["Autograd", "Tensors"]),
        .testTarget(name: "NNTests", dependencies: ["NN", "Autograd", "Tensors"]),
        .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "ModelIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ModelIOTests", dependencies: ["ModelIO"], resources: [.copy("Fixtures")]),
        .testTarget(name: "PEFTKitCommandsTests", dependencies: ["PEFTKitCommands", "ModelIO", "PEFTKit"]),
        .testTarget(name: "PEFTKitTests", dependencies: ["PEFTKit"]),
        .testTarget(name: "HTTPServingTests", dependencies: ["HTTPServing"]),
        .testTarget(name: "ServingTests", dependencies: ["Serving", "HTTPServing", "PEFT", "Models", "NN", "Tokenizers", "ModelIO", "Autograd"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "CSignals", "PEFT", "Models", "ModelIO", "Tokenizers", "NN", "Tensors", "Autograd"], exclude: ["Fixtures"]),
        .testTarget(name: "PEFTTests", dependencies: ["PEFT", "Models", "ModelIO", "NN", "Tensors", "Autograd"], exclude: ["Fixtures"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "ModelIO", "Tensors", "Autograd", "Tokenizers"], exclude: ["Fixtures"]),
    ]
)
