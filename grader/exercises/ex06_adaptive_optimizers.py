"""Exercise 06: adaptive optimizers, one step past chapter 6.

The chapter builds Adagrad, RMSprop and Adam and matches them to Keras; it names AMSGrad and
explains decoupled weight decay. The exercise asks for what it does not build: the decay a
schedule leaves (warm-up), `amsgrad_step` and `adamw_step` as Keras computes them (core), and
naming the optimizer behind a log of gradients and steps (stretch).

`amsgrad_step` and `adamw_step` mirror Keras objects. So that calling those objects cannot pass,
they are compared at a relative tolerance of 1e-10: float64 arithmetic reaches it, Keras's float32
(rounding near 1e-7) does not, and the exercise tells the learner so.
"""

import numpy as np

from grader.casegen import draw
from grader.compare import Verdict, close, exact_choice
from grader.spec import Case, Exercise, Question, Task

# float64 reaches 1e-10 with room to spare whatever the order of operations; float32 rounds every
# stored value by up to 6e-8, so a result that went through Keras's float32 objects cannot.
FLOAT64_RTOL = 1e-10


def steps_match(names: tuple[str, ...], rtol: float = 1e-6):
    """Each output (new w, then the new state) equal at every step, to `rtol` relative.

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
                verdict = close(rtol=rtol, atol=max(1e-12 * scale, 1e-300))(g_rows[row], e_rows[row], args)
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


def _hyper(rng: np.random.Generator, tiny: bool) -> tuple[float, float, float, float]:
    lr = float(10 ** rng.uniform(-3, -0.3))
    beta_1 = float(rng.choice([0.9, rng.uniform(0.5, 0.99)]))
    beta_2 = float(rng.choice([0.999, rng.uniform(0.9, 0.9999)]))
    epsilon = float(rng.choice([1e-7, 1e-8, 1e-6] if tiny else [1e-7, 1e-8, 10 ** rng.uniform(-10, -3)]))
    return lr, beta_1, beta_2, epsilon


def _moments(rng: np.random.Generator, i: int, h, target, w, tiny: bool) -> tuple:
    """Zero state and t0 = 1 (a fresh optimizer), or the state of a run in progress."""
    if i % 3 == 0 or tiny:
        return np.zeros(len(w)), np.zeros(len(w)), 1
    scale = h * np.abs(w - target)
    m = rng.normal(0, 1, len(w)) * scale
    v = rng.uniform(0.1, 2, len(w)) * scale**2
    return m, v, int(rng.integers(2, 60))


def _amsgrad_cases(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        tiny = i in (2, 6)
        h, target, w = _problem(rng, tiny)
        m, v, t0 = _moments(rng, i, h, target, w, tiny)
        # v_hat is never below v; past gradients that were larger leave it well above
        v_hat = v * (1 + rng.choice([0.0, 1.0], len(w)) * 10 ** rng.uniform(-1, 2, len(w)))
        return (h, target, w, m, v, v_hat, t0, *_hyper(rng, tiny), int(rng.integers(2, 9)))
    return draw(10, case)


def _adamw_cases(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        tiny = i in (2, 6)
        h, target, w = _problem(rng, tiny)
        m, v, t0 = _moments(rng, i, h, target, w, tiny)
        weight_decay = float(rng.choice([0.004, 10 ** rng.uniform(-4, 0)]))
        return (h, target, w, m, v, t0, *_hyper(rng, tiny), weight_decay, int(rng.integers(2, 9)))
    return draw(10, case)


def _schedule(rng: np.random.Generator, kind: int) -> np.ndarray:
    n = int(rng.integers(1, 3000))
    lr0 = float(10 ** rng.uniform(-3, -0.5))
    t = np.arange(n)
    if kind == 0:
        return np.full(n, lr0)
    if kind == 1:  # cosine decay
        return lr0 * 0.5 * (1 + np.cos(np.pi * t / n))
    if kind == 2:  # steps
        return lr0 * 0.1 ** (t // max(1, int(rng.integers(1, n + 1))))
    return lr0 * rng.uniform(0, 1, n)  # anything at all


def _decay_cases(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        rates = _schedule(rng, i % 4)
        weight_decay = float(10 ** rng.uniform(-4, 0.5))
        return (rates if i % 2 else rates.tolist(), weight_decay)
    return draw(8, case)


# ---- which_optimizer: logs of gradients and steps from five optimizers --------------------------

OPTIMIZERS = ("SGD", "momentum", "Adagrad", "RMSprop", "Adam")


def _simulate(kind: str, g: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The steps a fresh Keras optimizer of this kind takes on the gradients g, with random
    hyperparameters (Keras's defaults for Adagrad's start, 0.1, and for epsilon)."""
    n_steps, d = g.shape
    lr = float(10 ** rng.uniform(-4, -1))
    steps = np.empty_like(g)
    if kind == "SGD":
        return -lr * g
    if kind == "momentum":
        mu, velocity = float(rng.uniform(0.5, 0.99)), np.zeros(d)
        for t in range(n_steps):
            velocity = mu * velocity - lr * g[t]
            steps[t] = velocity
    elif kind == "Adagrad":
        accumulator = np.full(d, 0.1)
        for t in range(n_steps):
            accumulator = accumulator + g[t] ** 2
            steps[t] = -lr * g[t] / np.sqrt(accumulator + 1e-7)
    elif kind == "RMSprop":
        rho, v = float(rng.uniform(0.5, 0.99)), np.zeros(d)
        for t in range(n_steps):
            v = rho * v + (1 - rho) * g[t] ** 2
            steps[t] = -lr * g[t] / np.sqrt(v + 1e-7)
    else:
        beta_1, beta_2 = float(rng.uniform(0.7, 0.95)), float(rng.uniform(0.9, 0.9999))
        m, v = np.zeros(d), np.zeros(d)
        for t in range(1, n_steps + 1):
            m = beta_1 * m + (1 - beta_1) * g[t - 1]
            v = beta_2 * v + (1 - beta_2) * g[t - 1] ** 2
            alpha = lr * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)
            steps[t - 1] = -alpha * m / (np.sqrt(v) + 1e-7)
    return steps


def _shows_its_kind(kind: str, g: np.ndarray, steps: np.ndarray) -> bool:
    """Whether the log is long and varied enough to show what the exercise promises: Adagrad's
    rate falls by 1 % or more on every weight, RMSprop's rises by 1 % or more somewhere, and Adam
    steps uphill somewhere."""
    rate = -steps / g
    if kind == "Adagrad":
        return bool(np.all(rate[-1] < 0.99 * rate[0]))
    if kind == "RMSprop":
        return bool(np.any(rate[1:] > 1.01 * rate[:-1]))
    if kind == "Adam":
        return bool(np.any(rate < 0))
    return True


def optimizer_log(rng: np.random.Generator, kind: str, decimals: int | None = None) -> tuple:
    """A log of gradients and of the steps a fresh Keras optimizer of this kind took on them.
    The gradients jump in size and sign, as in training."""
    while True:
        n_steps, d = int(rng.integers(6, 25)), int(rng.integers(1, 6))
        g = rng.choice([-1.0, 1.0], (n_steps, d)) * 10 ** rng.uniform(-1, 1, (n_steps, d))
        g = g * 10 ** rng.uniform(-1, 1)
        if decimals is not None:
            g = g.round(decimals)
        if np.all(g != 0):
            steps = _simulate(kind, g, rng)
            if _shows_its_kind(kind, g, steps):
                return g, steps


def labelled_logs(rng: np.random.Generator) -> list[tuple[str, tuple]]:
    """Two logs of each optimizer, shuffled: (true label, arguments). Tests check the solution
    names every one right; the grader uses the arguments only."""
    kinds = [k for k in OPTIMIZERS for _ in range(2)]
    rng.shuffle(kinds)
    return [(kind, optimizer_log(rng, kind)) for kind in kinds]


def _which_cases(rng: np.random.Generator) -> list[tuple]:
    return [args for _, args in labelled_logs(rng)]


def _public_log(seed: int, kind: str) -> tuple:
    return optimizer_log(np.random.default_rng(seed), kind, decimals=3)  # readable in check()


A = np.array
EXERCISE = Exercise(
    slug="06_adaptive_optimizers",
    title="Adaptive optimizers: AMSGrad, AdamW and reading an optimizer's log",
    written=(Question("amsgrad_adamw_against_keras", points=2),),  # the Try-it question, graded by hand
    hidden_modules=("keras", "tensorflow"),
    tasks=(
        Task(
            name="decay_remaining",
            points=2,
            level="warm-up",
            public=(
                Case(([0.01] * 2000, 0.01), 0.8187225652655491),
                Case(([0.1, 0.05, 0.0], 0.5), 0.9262499999999999),
                Case((A([1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4]), 2.0), 0.993515981509998),
            ),
            hidden=_decay_cases,
            compare=close(rtol=1e-9, atol=1e-300),
            hint="Section 'Weight decay: in the loss, or decoupled (AdamW)': each step multiplies the "
                 "weight by one minus (that step's learning rate times the decay). With a schedule "
                 "the factor changes from step to step; it is exact, not an exponential.",
        ),
        Task(
            name="amsgrad_step",
            points=3,
            level="core",
            public=(
                Case((A([1.0]), A([0.0]), A([1.0]), A([0.0]), A([0.0]), A([0.0]), 1, 0.1, 0.9, 0.999, 0.0, 1),
                     (A([[0.9]]), A([[0.09999999999999998]]), A([[0.0010000000000000009]]), A([[0.0010000000000000009]]))),
                Case((A([1.0, 100.0]), A([0.0, 0.0]), A([1.0, 1.0]), A([0.0, 0.0]), A([0.0, 0.0]), A([0.0, 0.0]), 1, 0.3, 0.9, 0.999, 1e-07, 4),
                     (A([[0.700000948680298, 0.7000000094868327], [0.40728551409328273, 0.40728386649204307], [0.13196383437560877, 0.13196166688003913], [-0.11019071220191229, -0.11019310518446915]]), A([[0.09999999999999998, 9.999999999999998], [0.16000009486802977, 16.000000094868323], [0.18472863679055507, 18.47283875030192], [0.17945215654906044, 17.945171544072117]]), A([[0.0010000000000000009, 10.000000000000009], [0.0014890013281533185, 14.890000132815672], [0.001653393816815395, 16.53391161172994], [0.0016691548765816926, 16.691516515375795]]), A([[0.0010000000000000009, 10.000000000000009], [0.0014890013281533185, 14.890000132815672], [0.001653393816815395, 16.53391161172994], [0.0016691548765816926, 16.691516515375795]]))),
                Case((A([2.0, 0.5]), A([1.0, -1.0]), A([0.0, 0.0]), A([-0.5, 0.2]), A([1.0, 0.1]), A([3.0, 0.1]), 5, 0.05, 0.8, 0.99, 1e-07, 3),
                     (A([[0.007604408495067395, -0.013436194881112865], [0.017418511427793423, -0.029105712464876726], [0.02905857902997968, -0.04659431392630222]]), A([[-0.7999999999999999, 0.26], [-1.036958236601973, 0.3066563805118887], [-1.222599184710461, 0.3424145331630233]]), A([[1.03, 0.1015], [1.059093960401537, 0.10291827035392664], [1.0871216760649127, 0.10424567694430821]]), A([[3.0, 0.1015], [3.0, 0.10291827035392664], [3.0, 0.10424567694430821]]))),
            ),
            hidden=_amsgrad_cases,
            call="amsgrad_steps",  # grader.inkernel.adapters: several steps, the state fed back
            compare=steps_match(("w", "m", "v", "v_hat"), rtol=FLOAT64_RTOL),
            hint="Chapter 6, section 'Adam: momentum, RMSprop, and a bias correction', and the note on "
                 "amsgrad=True after 'From scratch, matched to Keras': m and v are Adam's; the "
                 "denominator uses the largest v seen so far, which is the new v_hat and is returned. "
                 "Compute in float64 with numpy: Keras's float32 objects are not precise enough.",
        ),
        Task(
            name="adamw_step",
            points=3,
            level="core",
            public=(
                Case((A([1.0]), A([0.0]), A([1.0]), A([0.0]), A([0.0]), 1, 0.1, 0.9, 0.999, 0.0, 0.5, 1),
                     (A([[0.85]]), A([[0.09999999999999998]]), A([[0.0010000000000000009]]))),
                Case((A([1e-06, 0.001]), A([0.0, 0.0]), A([1.0, 1.0]), A([0.0, 0.0]), A([0.0, 0.0]), 1, 0.001, 0.9, 0.999, 1e-07, 0.004, 2),
                     (A([[0.9997557469266479, 0.9989991523091832], [0.9994428123579638, 0.9979974152311534]]), A([[9.999999999999997e-08, 9.999999999999998e-05], [1.8997557469266474e-07, 0.00018989991523091828]]), A([[1.0000000000000009e-15, 1.0000000000000009e-09], [1.9985115535128614e-15, 1.9969993063144687e-09]]))),
                Case((A([2.0, 0.5]), A([1.0, -1.0]), A([0.0, 3.0]), A([-0.5, 0.2]), A([1.0, 0.1]), 5, 0.05, 0.8, 0.99, 1e-07, 0.1, 3),
                     (A([[0.012977990013126401, 2.9602704271931652], [0.029399661037965194, 2.912565631400143], [0.04849815036602844, 2.8599254687702107]]), A([[-0.7999999999999999, 0.5599999999999999], [-1.0348088039947494, 0.8440270427193164], [-1.2160871787806133, 1.0664781973154673]]), A([[1.03, 0.13900000000000004], [1.0586684979279413, 0.17681935464125192], [1.0857644136683904, 0.21332158564487344]]))),
            ),
            hidden=_adamw_cases,
            call="adamw_steps",
            compare=steps_match(("w", "m", "v"), rtol=FLOAT64_RTOL),
            hint="Chapter 6, section 'Weight decay: in the loss, or decoupled (AdamW)': Keras shrinks "
                 "the weights by the learning rate times the decay times w before the Adam update, "
                 "and the gradient is the one you were given (taken before the decay). Compute in "
                 "float64: Keras's float32 objects are not precise enough.",
        ),
        Task(
            name="which_optimizer",
            points=2,
            level="stretch",
            all_or_nothing=True,
            public=tuple(Case(_public_log(seed, kind), kind)
                         for seed, kind in [(1, "SGD"), (2, "Adagrad"), (3, "Adam"), (4, "RMSprop"),
                                            (5, "momentum")]),
            hidden=_which_cases,
            compare=exact_choice(OPTIMIZERS),
            hint="See 'From scratch, matched to Keras' in chapter 6. Divide each step by its gradient: the per-weight rate. Which optimizers keep it "
                 "constant, which can only lower it, which can raise it again, and which can even "
                 "step uphill (a negative rate)? Among those that step uphill, only one keeps a "
                 "fixed linear relation between consecutive steps and the gradient (chapter 5). "
                 "All or nothing: a guess cannot pass ten logs.",
        ),
    ),
)
