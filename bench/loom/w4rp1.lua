-- W4R's limit: bench/loom/w4rp.lua with one server process.
W4R_P = 1
dofile("bench/loom/w4rp.lua")
