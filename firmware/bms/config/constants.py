# Values the whole firmware shares, each defined once.

# "At rest": the string current below I_REST_C x capacity is rest (the detectors raise that threshold above a noisy
# sensor's noise, up to I_NEAR_REST_C); below I_NEAR_REST_C x capacity the string is near rest (the balancer
# drains only then, the estimator re-syncs only then; a charger's start is far above).
I_REST_C = 0.01
I_NEAR_REST_C = 0.05

T_MIN_CHARGE_C = -10.0  # no charging below (the protections' trip and the detectors' charge limit)

# physics
K_BOLTZMANN_EV = 8.617e-5  # eV/K
ZERO_C_K = 273.15
T_REF_K = 298.15  # 25 C
