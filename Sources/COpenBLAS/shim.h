// System OpenBLAS (Debian: libopenblas-dev). Only used when the `OpenBLAS` trait is enabled.
#include <cblas.h>
