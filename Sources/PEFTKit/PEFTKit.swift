// PEFTKit — the umbrella module. `import PEFTKit` brings in every public layer.
@_exported import Autograd
@_exported import NN
@_exported import Tensors
@_exported import Tokenizers
@_exported import ModelIO
@_exported import Models
@_exported import PEFT
@_exported import Training
