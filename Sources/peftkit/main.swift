import Foundation
import PEFTKitCommands
import Tensors

// Training and generation allocate the same buffers step after step: keep freed memory for reuse.
AllocatorTuning.keepFreedMemory()
exit(CommandLineTool.run(Array(CommandLine.arguments.dropFirst())))
