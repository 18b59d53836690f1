-- W4T's limit: bench/loom/w4tls.lua over plain TCP (the same program).
W4T_PLAIN = true
dofile("bench/loom/w4tls.lua")
