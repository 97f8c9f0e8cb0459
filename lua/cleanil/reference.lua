-- The reference library's published results (algorithms.md §10): IQM +- std of the D4RL-normalized
-- return over the last 30 evaluations, seed 0, columns halfcheetah | hopper | walker2d.
return function(cil)
  cil.reference_scores = {
    bc = {halfcheetah = {46.24, 19.48}, hopper = {86.27, 11.65}, walker2d = {99.54, 0.17}},
    ibc = {halfcheetah = {48.07, 18.38}, hopper = {69.07, 17.97}, walker2d = {73.33, 35.71}},
    iqlearn = {halfcheetah = {10.66, 3.81}, hopper = {84.23, 13.91}, walker2d = {81.23, 31.29}},
    recoil = {halfcheetah = {70.70, 9.31}, hopper = {86.51, 15.32}, walker2d = {99.55, 0.30}},
    recoil_online = {halfcheetah = {101.15, 0.58}, hopper = {99.79, 0.36}, walker2d = {99.95, 0.46}},
    gail = {halfcheetah = {107.26, 0.85}, hopper = {101.10, 0.27}, walker2d = {100.75, 0.22}},
    omlirl = {halfcheetah = {96.51, 1.42}, hopper = {99.91, 0.27}, walker2d = {99.34, 0.49}},
    rmirl = {halfcheetah = {99.09, 2.52}, hopper = {100.28, 0.19}, walker2d = {96.44, 1.03}},
    rmirl_implicit = {halfcheetah = {94.50, 3.05}, hopper = {100.18, 0.28}, walker2d = {99.23, 0.58}},
  }
end
