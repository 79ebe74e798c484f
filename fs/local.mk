# sopfs: the FUSE layer (fs/) and the daemon (src/).
