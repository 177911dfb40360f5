"""Exercise 06: adaptive optimizers (Adagrad, RMSprop and Adam, as Keras computes them)."""

import numpy as np

from grader.adapters import RUN_STEPS
from grader.compare import Verdict, close
from grader.spec import Case, Exercise, Task

# The adapters run the learner's step for several steps with its state fed back (grader.adapters),
# passing t = t0, t0 + 1, ... to Adam.
ADAGRAD_CALL = RUN_STEPS + '''
def call(fn, h, target, w, accumulator, lr, epsilon, steps):
    return _run(lambda w, g, s, t: fn(w, g, s[0], lr, epsilon),
                h, target, w, [accumulator], steps, 1, ["accumulator"])
'''

RMSPROP_CALL = RUN_STEPS + '''
def call(fn, h, target, w, v, lr, rho, epsilon, steps):
    return _run(lambda w, g, s, t: fn(w, g, s[0], lr, rho, epsilon),
                h, target, w, [v], steps, 1, ["v"])
'''

ADAM_CALL = RUN_STEPS + '''
def call(fn, h, target, w, m, v, t0, lr, beta_1, beta_2, epsilon, steps):
    return _run(lambda w, g, s, t: fn(w, g, s[0], s[1], t, lr, beta_1, beta_2, epsilon),
                h, target, w, [m, v], steps, t0, ["m", "v"])
'''


def steps_match(names: tuple[str, ...]):
    """Each output (new w, then the new state) equal at every step, to 1e-6 relative.

    The message names the first step and the first output that is wrong, since a step function
    that gets the first step right but the state wrong fails only from the second step on."""

    def compare(got, expected, args) -> Verdict:
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return Verdict(False, f"expected the outputs {', '.join(names)} of every step")
        for row in range(len(expected[0])):
            for name, g_rows, e_rows in zip(names, got, expected):
                if not isinstance(g_rows, np.ndarray) or g_rows.shape != e_rows.shape:
                    return Verdict(False, f"the new {name} does not have the shape of w")
                scale = float(np.max(np.abs(e_rows))) if e_rows.size else 1.0
                verdict = close(rtol=1e-6, atol=max(1e-12 * scale, 1e-300))(g_rows[row], e_rows[row], args)
                if not verdict.ok:
                    return Verdict(False, f"step {row + 1}: the new {name} is wrong ({verdict.why})")
        return Verdict(True)

    return compare


def _problem(rng: np.random.Generator, tiny: bool) -> tuple:
    d = int(rng.integers(1, 7))
    h = 10 ** rng.uniform(-2, 2, d)
    target = rng.uniform(-2, 2, d)
    w = target + rng.uniform(-3, 3, d)
    if tiny:  # gradients of 1e-9 to 1e-4: where epsilon and its placement matter
        h = 10 ** rng.uniform(-9, -4, d)
    return h, target, w


def _lr(rng: np.random.Generator) -> float:
    return float(10 ** rng.uniform(-3, -0.3))


def _epsilon(rng: np.random.Generator, tiny: bool) -> float:
    if tiny:
        return float(rng.choice([1e-7, 1e-8, 1e-6]))
    return float(rng.choice([1e-7, 1e-8, 10 ** rng.uniform(-10, -3)]))


def _adagrad_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(8):
        tiny = i in (2, 5)
        h, target, w = _problem(rng, tiny)
        if i % 3 == 0:  # Keras's default start, 0.1 everywhere
            accumulator = np.full(len(w), 0.1)
        else:
            accumulator = rng.uniform(0, 1, len(w)) * float(rng.choice([1.0, 1e-6]))
        cases.append((h, target, w, accumulator, _lr(rng), _epsilon(rng, tiny), int(rng.integers(2, 9))))
    return cases


def _rmsprop_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(8):
        tiny = i in (2, 5)
        h, target, w = _problem(rng, tiny)
        v = np.zeros(len(w)) if i % 2 == 0 else rng.uniform(0, 1, len(w)) * (h * np.abs(w - target)) ** 2
        rho = float(rng.choice([0.9, rng.uniform(0.5, 0.999)]))
        cases.append((h, target, w, v, _lr(rng), rho, _epsilon(rng, tiny), int(rng.integers(2, 9))))
    return cases


def _adam_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(10):
        tiny = i in (2, 6)
        h, target, w = _problem(rng, tiny)
        if i % 3 == 0 or tiny:  # a fresh optimizer: zero state, t from 1
            m, v, t0 = np.zeros(len(w)), np.zeros(len(w)), 1
        else:  # in the middle of a run
            scale = h * np.abs(w - target)
            m = rng.normal(0, 1, len(w)) * scale
            v = rng.uniform(0.1, 2, len(w)) * scale**2
            t0 = int(rng.integers(2, 60))
        beta_1 = float(rng.choice([0.9, rng.uniform(0.5, 0.99)]))
        beta_2 = float(rng.choice([0.999, rng.uniform(0.9, 0.9999)]))
        cases.append((h, target, w, m, v, t0, _lr(rng), beta_1, beta_2, _epsilon(rng, tiny),
                      int(rng.integers(2, 9))))
    return cases


A = np.array
EXERCISE = Exercise(
    slug="06_adaptive_optimizers",
    title="Adaptive optimizers: Adagrad, RMSprop and Adam",
    tasks=(
        Task(
            name="adagrad_step",
            points=3,
            public=(
                Case((A([2.0]), A([0.0]), A([1.0]), A([0.0]), 1.0, 0.0, 2),
                     (A([[0.0], [0.0]]), A([[4.0], [4.0]]),)),
                Case((A([1.0, 100.0]), A([0.0, 0.0]), A([1.0, 1.0]), A([0.1, 0.1]), 0.1, 1e-07, 3),
                     (A([[0.9046537454093613, 0.90000049999675], [0.8393387391820096, 0.8331041910979298], [0.7875127746375502, 0.7804569298506782]]), A([[1.1, 10000.1], [1.9183983990831854, 18100.108999944], [2.622887918174831, 25040.734932193358]]),)),
                Case((A([1e-06, 1.0]), A([0.0, 0.5]), A([1.0, -1.0]), A([0.0, 0.2]), 0.01, 1e-07, 3),
                     (A([[0.999968377381511, -0.9904168517205754], [0.9999367559211073, -0.9835210161483211], [0.99990513561873, -0.9778619270495917]]), A([[1e-12, 2.45], [1.999936755763012e-12, 4.671342391892672], [2.99981027160504e-12, 6.872176997246419]]),)),
            ),
            hidden=_adagrad_cases,
            call=ADAGRAD_CALL,
            compare=steps_match(("w", "accumulator")),
            hint="accumulator = accumulator + g**2 (a new array, not +=), then "
                 "w - lr * g / np.sqrt(accumulator + epsilon): epsilon goes inside the square root.",
        ),
        Task(
            name="rmsprop_step",
            points=3,
            public=(
                Case((A([1.0]), A([0.0]), A([1.0]), A([0.0]), 0.1, 0.75, 0.0, 2),
                     (A([[0.8], [0.6642897712512047]]), A([[0.25], [0.34750000000000003]]),)),
                Case((A([1.0, 100.0]), A([0.0, 0.0]), A([1.0, 1.0]), A([0.0, 0.0]), 0.01, 0.9, 1e-07, 3),
                     (A([[0.9683772392096927, 0.9683772233998973], [0.9457880465069629, 0.9457880247325232], [0.9270531230585962, 0.9270530977874771]]), A([[0.09999999999999998, 999.9999999999998], [0.1837754477419386, 1837.754446799694], [0.25484940585929045, 2548.4939898471725]]),)),
                Case((A([1e-05, 3.0]), A([0.0, 1.0]), A([2.0, 0.0]), A([1e-09, 4.0]), 0.001, 0.99, 1e-07, 3),
                     (A([[1.9999370664531062, 0.0014907119665960086], [1.9998741330356962, 0.002970236312731303], [1.9998111997661507, 0.004438910309723308]]), A([[9.94e-10, 4.05], [9.88059748269773e-10, 4.099231871846008], [9.821786473350606e-10, 4.147705704598595]]),)),
            ),
            hidden=_rmsprop_cases,
            call=RMSPROP_CALL,
            compare=steps_match(("w", "v")),
            hint="v = rho * v + (1 - rho) * g**2, then w - lr * g / np.sqrt(v + epsilon): epsilon inside "
                 "the square root, and no bias correction.",
        ),
        Task(
            name="adam_step",
            points=4,
            public=(
                Case((A([1.0]), A([0.0]), A([1.0]), A([0.0]), A([0.0]), 1, 0.1, 0.9, 0.999, 0.0, 1),
                     (A([[0.9]]), A([[0.09999999999999998]]), A([[0.0010000000000000009]]),)),
                Case((A([1.0, 100.0]), A([0.0, 0.0]), A([1.0, 1.0]), A([0.0, 0.0]), A([0.0, 0.0]), 1, 0.01, 0.9, 0.999, 1e-07, 3),
                     (A([[0.9900000316226766, 0.9900000003162277], [0.9800027999816884, 0.980002746436784], [0.9700101717294816, 0.970010099952769]]), A([[0.09999999999999998, 9.999999999999998], [0.18900000316226762, 18.900000003162276], [0.26810028284420967, 26.810027467213885]]), A([[0.0010000000000000009, 10.000000000000009], [0.0019791000626129024, 19.791000006261328], [0.0029375264505222395, 29.37526283649147]]),)),
                Case((A([2.0, 0.5]), A([1.0, -1.0]), A([0.0, 0.0]), A([-0.5, 0.2]), A([1.0, 0.1]), 5, 0.05, 0.8, 0.99, 1e-07, 3),
                     (A([[0.012977990013126401, -0.013436194881112865], [0.029464550988030826, -0.029105712464876726], [0.048709672501336794, -0.04659431392630222]]), A([[-0.7999999999999999, 0.26], [-1.0348088039947494, 0.3066563805118887], [-1.2160612228005871, 0.3424145331630233]]), A([[1.03, 0.1015], [1.0586684979279413, 0.10291827035392666], [1.0857593752602164, 0.10424567694430822]]),)),
                Case((A([1e-06, 0.001]), A([0.0, 0.0]), A([1.0, 1.0]), A([0.0, 0.0]), A([0.0, 0.0]), 1, 0.001, 0.9, 0.999, 1e-07, 2),
                     (A([[0.9997597469266479, 0.9990031523091832], [0.9994508109214569, 0.9980054111181731]]), A([[9.999999999999997e-08, 9.999999999999998e-05], [1.8997597469266476e-07, 0.0001899003152309183]]), A([[1.0000000000000009e-15, 1.0000000000000009e-09], [1.998519551574837e-15, 1.9970072983236873e-09]]),)),
            ),
            hidden=_adam_cases,
            call=ADAM_CALL,
            compare=steps_match(("w", "m", "v")),
            hint="Update m and v first; then alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) with the t "
                 "you are given (the first step has t = 1), and w - alpha * m / (np.sqrt(v) + epsilon): "
                 "epsilon outside the root, added after the bias correction.",
        ),
    ),
)
