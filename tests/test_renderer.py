"""Which renderers count as software rasterizers (the filter's 'Steady edges: auto' turns off there)."""
from obsmatte.obs.renderer import is_software


def test_software_rasterizers_are_recognised():
    for name in ("llvmpipe (LLVM 15.0.6, 256 bits)", "softpipe", "Mesa Software Rasterizer",
                 "Microsoft Basic Render Driver", "SwiftShader Device (Subzero)"):
        assert is_software(name), name


def test_gpus_and_unknown_renderers_are_not():
    for name in ("NVIDIA GeForce RTX 3060/PCIe/SSE2", "AMD Radeon RX 6700 XT (radeonsi, navi22, LLVM 15.0.7)",
                 "Mesa Intel(R) UHD Graphics 620 (KBL GT2)", "Apple M1", "", None):
        assert not is_software(name), name
