import sys, numpy as np
from e5py import Model, teacher_path, write_student
m = Model(teacher_path())
p = np.load(sys.argv[1], allow_pickle=True).item()
write_student(m, p, sys.argv[2], sys.argv[3])
print("written")
