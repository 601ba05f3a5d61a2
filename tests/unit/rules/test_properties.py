"""Property tests: the compiled, indexed engine agrees with the reference on random rules and facts."""

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import DEFAULT_FACTS, WEEKDAYS, RuleSet, check_rule, compile_condition, purchase_facts
from rules.parser import parse

from .reference import evaluate, reference_score

CATEGORIES = ["coffee", "tea", "wine"]
SKUS = ["LATTE", "MOCHA", "SENCHA", "RIOJA"]
TIERS = ["silver", "gold"]
STAGES = ["growth", "lapsed"]
START = datetime(2026, 11, 16, tzinfo=UTC)  # a Monday

ints = st.integers(min_value=-2, max_value=12)
ops = st.sampled_from(["==", "!=", "<", "<=", ">", ">="])


def quoted(values):
    return st.sampled_from(values).map(lambda v: f'"{v}"')


def int_lists(values):
    return st.lists(values, max_size=4).map(lambda xs: "[" + ", ".join(map(str, xs)) + "]")


def str_lists(values, allow_null=False):
    options = st.sampled_from([*values, *(["null"] if allow_null else [])])
    return st.lists(options, max_size=3).map(
        lambda xs: "[" + ", ".join(x if x == "null" else f'"{x}"' for x in xs) + "]"
    )


int_facts = st.sampled_from(
    ["purchase.total_minor", "purchase.item_count", "purchase.local_hour", "member.purchase_count",
     "member.days_since_enrolment", "member.days_since_last_purchase"]
)  # fmt: skip
hours = st.integers(min_value=0, max_value=23)

atoms = st.one_of(
    st.builds(lambda f, o, n: f"{f} {o} {n}", int_facts, ops, ints),
    st.builds(lambda n, o, f: f"{n} {o} {f}", ints, ops, int_facts),
    st.builds(lambda f, o, g: f"{f} {o} {g}", int_facts, ops, int_facts),
    st.builds(lambda o, h: f"purchase.local_hour {o} {h}", ops, hours),
    st.builds(lambda h, n: f"purchase.local_hour {n} {h}", int_lists(hours), st.sampled_from(["in", "not in"])),
    st.builds(lambda f, n, xs: f"{f} {n} {xs}", int_facts, st.sampled_from(["in", "not in"]), int_lists(ints)),
    st.builds(lambda o, d: f"purchase.local_weekday {o} {d}", st.sampled_from(["==", "!="]), quoted(WEEKDAYS)),
    st.builds(lambda n, xs: f"purchase.local_weekday {n} {xs}", st.sampled_from(["in", "not in"]), str_lists(WEEKDAYS)),
    st.builds(lambda o, d: f'purchase.local_date {o} "2026-11-{d:02d}"', ops, st.integers(15, 23)),
    st.builds(
        lambda c, f: f"{c} in {f}", quoted(CATEGORIES + SKUS), st.sampled_from(["purchase.categories", "purchase.skus"])
    ),
    st.builds(lambda c: f"{c} not in purchase.categories", quoted(CATEGORIES)),
    st.builds(lambda o, t: f"member.tier {o} {t}", st.sampled_from(["==", "!="]), quoted(TIERS) | st.just("null")),
    st.builds(lambda n, xs: f"member.tier {n} {xs}", st.sampled_from(["in", "not in"]), str_lists(TIERS, True)),
    st.builds(lambda o: f"member.days_since_last_purchase {o} null", st.sampled_from(["==", "!="])),
    st.builds(lambda s: f"member.lifecycle_stage == {s}", quoted(STAGES)),
    st.sampled_from(["member.birthday_month", "member.birthday_month == false", "true", "false"]),
    st.builds(lambda c: f'purchase.currency == "{c}"', st.sampled_from(["EUR", "USD"])),
)


def combine(children):
    return st.one_of(
        st.builds(lambda a, b: f"{a} and {b}", children, children),
        st.builds(lambda a, b: f"{a} or {b}", children, children),
        st.builds(lambda a: f"not {a}", children),
        st.builds(lambda a: f"({a})", children),
    )


conditions = st.recursive(atoms, combine, max_leaves=6) | st.just("")


@st.composite
def facts(draw):
    items = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "sku": st.sampled_from(SKUS),
                    "category": st.sampled_from(CATEGORIES),
                    "quantity": st.integers(1, 3),
                    "unit_price_minor": st.integers(0, 900),
                }
            ),
            max_size=4,
        )
    )
    occurred_at = START + timedelta(minutes=draw(st.integers(0, 7 * 24 * 60)))
    zone = draw(st.sampled_from(["Europe/Paris", "America/New_York", "Asia/Singapore"]))
    result = purchase_facts(
        items=items,
        total_minor=draw(st.integers(0, 12)) * 250,
        currency=draw(st.sampled_from(["EUR", "USD"])),
        merchant_id=draw(st.sampled_from(["mer_a", "mer_b"])),
        store_id="sto_1",
        occurred_at=occurred_at,
        timezone=zone,
    )
    result |= {
        "member.tier": draw(st.sampled_from([None, *TIERS])),
        "member.purchase_count": draw(ints),
        "member.days_since_enrolment": draw(ints),
        "member.days_since_last_purchase": draw(st.none() | ints),
        "member.lifecycle_stage": draw(st.sampled_from(STAGES)),
        "member.birthday_month": draw(st.booleans()),
    }
    return result


@settings(max_examples=400, deadline=None)
@given(condition=conditions, facts=facts())
def test_a_compiled_condition_agrees_with_the_reference_interpreter(condition, facts):
    compiled = compile_condition(condition, DEFAULT_FACTS)
    expected = bool(evaluate(parse(condition), facts))
    assert (compiled.test is None or compiled.test(facts)) == expected
    # What the index settles (weekday, hour) and the residual together are the whole condition.
    allowed = compiled.allowed
    by_index = all(facts[name] in values for name, values in allowed.items())
    residual = compiled.residual is None or compiled.residual(facts)
    assert (by_index and residual) == expected


effects = st.one_of(
    st.builds(
        lambda p, m: {"type": "per_amount", "points": p, "per_minor": m},
        st.integers(1, 5),
        st.sampled_from([100, 333, 1000]),
    ),
    st.builds(lambda p, s: {"type": "per_item", "points": p, "sku": s}, st.integers(1, 9), st.sampled_from(SKUS)),
    st.builds(
        lambda p, c: {"type": "per_item", "points": p, "category": c}, st.integers(1, 9), st.sampled_from(CATEGORIES)
    ),
    st.builds(lambda n: {"type": "multiplier", "percent": n}, st.sampled_from([110, 150, 200, 333])),
    st.builds(lambda p: {"type": "bonus", "points": p}, st.integers(1, 60)),
)
limits = st.fixed_dictionaries(
    {},
    optional={
        "per_member": st.fixed_dictionaries(
            {"times": st.integers(1, 2), "period": st.sampled_from(["day", "week", "ever"])}
        ),
        "budget_points": st.integers(1, 200),
    },
)
instants = st.none() | st.integers(-2, 9).map(lambda d: START + timedelta(days=d))


@st.composite
def rule_sets(draw):
    rules = []
    for n in range(draw(st.integers(0, 7))):
        starts, ends = draw(instants), draw(instants)
        if starts is not None and ends is not None and ends <= starts:
            starts, ends = ends, starts + timedelta(days=1)
        rules.append(
            {
                "id": f"r{n}",
                "name": f"Rule {n}",
                "priority": draw(st.sampled_from([0, 0, 5, 10])),
                "stacking": draw(st.sampled_from(["stack", "stack", "exclusive"])),
                "merchant_id": draw(st.sampled_from([None, None, "mer_a", "mer_b"])),
                "starts_at": starts,
                "ends_at": ends,
                "condition": draw(conditions),
                "effect": draw(effects),
                "limits": draw(limits),
            }
        )
    return rules


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=rule_sets(), facts_list=st.lists(facts(), min_size=1, max_size=3), data=st.data())
def test_scoring_agrees_with_the_reference_scorer_and_never_overspends(rules, facts_list, data):
    ruleset = RuleSet.build(rules, version=1)
    specs = [check_rule(r) for r in rules]
    ids = [r["id"] for r in rules]
    for facts in facts_list:
        usage = data.draw(st.dictionaries(st.sampled_from(ids), st.integers(0, 2)) if ids else st.just({}))
        budgets = data.draw(st.dictionaries(st.sampled_from(ids), st.integers(0, 150)) if ids else st.just({}))
        decision = ruleset.score(facts, usage=usage, budget_remaining=budgets)
        explained = ruleset.score(facts, usage=usage, budget_remaining=budgets, explain=True)
        points, lines = reference_score(specs, facts, usage, budgets)
        assert decision.points == points
        assert [(line.rule_id, line.points, line.period_key) for line in decision.breakdown] == lines
        assert (explained.points, explained.breakdown) == (decision.points, decision.breakdown)
        assert sum(line.points for line in decision.breakdown) == decision.points
        assert {s.rule_id for s in explained.skipped} == set(ids) - {line.rule_id for line in decision.breakdown}
        for line in decision.breakdown:
            spec = next(s for s in specs if s.id == line.rule_id)
            assert line.points > 0
            if spec.limits.budget_points is not None:
                assert line.points <= budgets.get(spec.id, spec.limits.budget_points)
            if spec.limits.times is not None:
                assert usage.get(spec.id, 0) < spec.limits.times
