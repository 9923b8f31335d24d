import Foundation
import PEFTKitCommands

exit(CommandLineTool.run(Array(CommandLine.arguments.dropFirst())))
