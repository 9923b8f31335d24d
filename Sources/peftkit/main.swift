import Foundation
import PEFTKitCommands
import Tensors

// Training and generation allocate the same buffers step after step: keep freed memory for reuse.
AllocatorTuning.keepFreedMemory()
CommandLineTool.handlesInterrupt = true  // Ctrl-C during `train` saves a checkpoint
exit(CommandLineTool.run(Array(CommandLine.arguments.dropFirst())))
