import Foundation

/// Where `Scripts/fetch-models.sh` puts the real models: `$PEFTKIT_MODELS`, or
/// `~/.cache/peftkit/models`. PEFTKit never downloads anything itself.
public enum ModelCache {
    /// The cache folder.
    public static var directory: URL {
        ProcessInfo.processInfo.environment["PEFTKIT_MODELS"].map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/peftkit/models")
    }

    /// SmolLM2-135M-Instruct (Q4_1 GGUF, tokenizer inside).
    public static var smolLM2: URL { directory.appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf") }

    /// all-MiniLM-L6-v2 (a BERT folder with safetensors and tokenizer.json).
    public static var miniLM: URL { directory.appendingPathComponent("all-MiniLM-L6-v2") }
}
