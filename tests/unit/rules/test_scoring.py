"""How a purchase is scored, case by case, as the contract describes it."""

from datetime import UTC, datetime, timedelta

import pytest

from rules import FactError, Line, RuleError, RuleSet, Skip, SkipReason

from .helpers import PARIS_NOON, basket_facts, bonus, multiplier, per_amount, rule


def score(rules, facts=None, **kwargs):
    return RuleSet.build(rules, version="v1").score(facts or basket_facts(), **kwargs)


def points_by_rule(decision) -> dict[str, int]:
    return {line.rule_id: line.points for line in decision.breakdown}


@pytest.mark.parametrize(
    ("effect", "total_minor", "points"),
    [
        (per_amount(1, 100), 4250, 42),  # floor(4250 / 100) x 1
        (per_amount(3, 1000), 4250, 12),  # floor(4.25) x 3
        (per_amount(1, 100), 99, 0),
        (per_amount(2, 1), 7, 14),
        ({"type": "per_item", "points": 5, "sku": "LATTE"}, 4250, 10),  # 2 lattes
        ({"type": "per_item", "points": 5, "sku": "MOCHA"}, 4250, 0),
        ({"type": "per_item", "points": 7, "category": "coffee"}, 4250, 14),
        ({"type": "per_item", "points": 7, "category": "wine"}, 4250, 0),
        (bonus(250), 4250, 250),
    ],
)
def test_each_effect_gives_its_points_rounded_down(effect, total_minor, points):
    decision = score([rule("r1", effect)], basket_facts(total_minor=total_minor))
    assert decision.points == points


def test_a_multiplier_line_is_the_extra_points_on_the_base_rounded_down():
    decision = score([rule("base", per_amount(1, 100)), rule("x150", multiplier(150))], basket_facts(total_minor=4350))
    # base 43; 43 x 150% = 64.5 -> 64, so the multiplier adds 21
    assert points_by_rule(decision) == {"base": 43, "x150": 21}
    assert decision.points == 64


def test_only_the_highest_matching_multiplier_applies():
    rules = [
        rule("base", per_amount(1, 100)),
        rule("x200", multiplier(200), priority=1),
        rule("x300", multiplier(300)),
        rule("x500", multiplier(500), condition="member.birthday_month"),  # does not match
    ]
    decision = score(rules, explain=True)
    assert points_by_rule(decision) == {"base": 42, "x300": 84}
    assert Skip("x200", SkipReason.LOWER_MULTIPLIER) in decision.skipped
    assert Skip("x500", SkipReason.CONDITION_FALSE) in decision.skipped


def test_equal_multipliers_credit_the_rule_walked_first():
    rules = [rule("base", per_amount()), rule("b", multiplier(200)), rule("a", multiplier(200))]
    assert points_by_rule(score(rules)) == {"base": 42, "a": 42}


def test_bonuses_are_added_after_the_multiplier_and_not_multiplied():
    rules = [rule("base", per_amount()), rule("x200", multiplier(200)), rule("gift", bonus(100), priority=50)]
    decision = score(rules)
    assert decision.points == 42 * 2 + 100
    assert points_by_rule(decision) == {"gift": 100, "base": 42, "x200": 42}


def test_a_multiplier_with_no_base_points_adds_nothing_and_does_not_fire():
    decision = score([rule("gift", bonus(100)), rule("x200", multiplier(200))], explain=True)
    assert decision.points == 100
    assert Skip("x200", SkipReason.NO_POINTS) in decision.skipped


def test_rules_are_walked_by_priority_then_id_and_the_breakdown_follows_the_walk():
    rules = [rule("c", bonus(1), priority=5), rule("b", bonus(2), priority=10), rule("a", bonus(3), priority=5)]
    assert [line.rule_id for line in score(rules).breakdown] == ["b", "a", "c"]


def test_an_exclusive_rule_that_matches_ends_the_walk():
    rules = [
        rule("high", bonus(5), priority=30),
        rule("excl", per_amount(), priority=20, stacking="exclusive"),
        rule("low", bonus(100), priority=10),
        rule("lowx", multiplier(300), priority=10),
    ]
    decision = score(rules, explain=True)
    assert points_by_rule(decision) == {"high": 5, "excl": 42}
    assert Skip("low", SkipReason.AFTER_EXCLUSIVE) in decision.skipped
    assert Skip("lowx", SkipReason.AFTER_EXCLUSIVE) in decision.skipped


def test_an_exclusive_rule_that_does_not_match_lets_the_walk_go_on():
    rules = [
        rule("excl", bonus(500), priority=20, stacking="exclusive", condition="member.birthday_month"),
        rule("low", bonus(100), priority=10),
    ]
    assert points_by_rule(score(rules)) == {"low": 100}


def test_an_exclusive_rule_ends_the_walk_even_when_its_effect_rounds_to_zero():
    rules = [rule("excl", per_amount(1, 10_000), priority=20, stacking="exclusive"), rule("low", bonus(100))]
    decision = score(rules, explain=True)
    assert decision.points == 0
    assert set(decision.skipped) == {Skip("excl", SkipReason.NO_POINTS), Skip("low", SkipReason.AFTER_EXCLUSIVE)}


def test_scope_is_the_operators_rules_plus_the_purchases_merchant():
    rules = [
        rule("operator", bonus(1)),
        rule("mine", bonus(10), merchant_id="mer_a"),
        rule("theirs", bonus(100), merchant_id="mer_b"),
    ]
    decision = score(rules, basket_facts(merchant_id="mer_a"), explain=True)
    assert points_by_rule(decision) == {"operator": 1, "mine": 10}
    assert decision.skipped == (Skip("theirs", SkipReason.NOT_IN_SCOPE),)
    assert points_by_rule(score(rules, basket_facts(merchant_id="mer_c"))) == {"operator": 1}


@pytest.mark.parametrize(
    ("starts_at", "ends_at", "fires"),
    [
        (None, None, True),
        (PARIS_NOON, None, True),  # the start is inside the window
        (None, PARIS_NOON, False),  # the end is outside
        (PARIS_NOON + timedelta(microseconds=1), None, False),
        (None, PARIS_NOON + timedelta(microseconds=1), True),
        (PARIS_NOON - timedelta(days=1), PARIS_NOON + timedelta(days=1), True),
        (PARIS_NOON - timedelta(days=2), PARIS_NOON - timedelta(days=1), False),
        (PARIS_NOON + timedelta(days=1), PARIS_NOON + timedelta(days=2), False),
    ],
)
def test_a_rule_fires_only_within_its_window(starts_at, ends_at, fires):
    decision = score([rule("r1", starts_at=starts_at, ends_at=ends_at)], explain=True)
    assert (decision.points == 10) is fires
    if not fires:
        assert decision.skipped == (Skip("r1", SkipReason.OUT_OF_WINDOW),)


def test_windows_compare_instants_whatever_the_offsets():
    paris_1300 = datetime.fromisoformat("2026-11-18T13:00:00+01:00")  # 12:00 UTC, an hour after the purchase
    assert score([rule("r1", ends_at=paris_1300)]).points == 10
    assert score([rule("r1", starts_at=paris_1300)]).points == 0


def test_one_rule_set_scores_purchases_in_every_window_epoch():
    day = timedelta(days=1)
    rules = [
        rule("always", bonus(1)),
        rule("w1", bonus(10), starts_at=PARIS_NOON - 3 * day, ends_at=PARIS_NOON - day),
        rule("w2", bonus(100), starts_at=PARIS_NOON - 2 * day, ends_at=PARIS_NOON + day),
        rule("w3", bonus(1000), starts_at=PARIS_NOON + day),
    ]
    ruleset = RuleSet.build(rules)
    totals = [ruleset.score(basket_facts(occurred_at=PARIS_NOON + n * day)).points for n in range(-4, 3)]
    assert totals == [1, 11, 111, 101, 101, 1001, 1001]


@pytest.mark.parametrize(
    ("condition", "hour_utc", "fires"),
    [
        ('purchase.local_weekday == "wed"', 11, True),
        ('purchase.local_weekday == "wed" and purchase.local_hour >= 12', 11, True),
        ('purchase.local_weekday == "wed" and purchase.local_hour >= 13', 11, False),
        ('purchase.local_weekday in ["sat", "sun"]', 11, False),
        ('purchase.local_weekday == "thu"', 23, True),  # 00:00 Thursday in Paris
        ("purchase.local_hour < 1", 23, True),
        ('not (purchase.local_weekday == "wed") and "coffee" in purchase.categories', 23, True),
        ('purchase.local_weekday == "wed" or "coffee" in purchase.categories', 23, True),
    ],
)
def test_weekday_and_hour_conditions_follow_the_store_clock(condition, hour_utc, fires):
    facts = basket_facts(occurred_at=datetime(2026, 11, 18, hour_utc, tzinfo=UTC))
    assert (score([rule("r1", condition=condition)], facts).points == 10) is fires


@pytest.mark.parametrize(("used", "fires"), [(None, True), (0, True), (1, True), (2, False), (3, False)])
def test_a_rule_over_its_per_member_limit_does_not_fire(used, fires):
    limited = rule("r1", limits={"per_member": {"times": 2, "period": "week"}})
    usage = {} if used is None else {"r1": used}
    decision = score([limited], usage=usage, explain=True)
    assert (decision.points == 10) is fires
    if fires:
        assert decision.breakdown == (Line("r1", "Rule r1", 1, 10, "week:2026-W47"),)
    else:
        assert decision.skipped == (Skip("r1", SkipReason.LIMIT_REACHED),)


def test_a_limited_exclusive_rule_does_not_end_the_walk_once_its_limit_is_reached():
    rules = [
        rule(
            "excl", bonus(500), priority=20, stacking="exclusive", limits={"per_member": {"times": 1, "period": "day"}}
        ),
        rule("low", bonus(100)),
    ]
    assert points_by_rule(score(rules, usage={"excl": 0})) == {"excl": 500}
    assert points_by_rule(score(rules, usage={"excl": 1})) == {"low": 100}


def test_a_limited_multiplier_gives_way_to_the_next_highest():
    rules = [
        rule("base", per_amount()),
        rule("x300", multiplier(300), limits={"per_member": {"times": 1, "period": "day"}}),
        rule("x200", multiplier(200)),
    ]
    assert points_by_rule(score(rules, usage={"x300": 1})) == {"base": 42, "x200": 42}


@pytest.mark.parametrize(("remaining", "fires"), [(None, True), (1000, True), (100, True), (99, False), (0, False)])
def test_a_rule_whose_budget_cannot_cover_its_points_does_not_fire(remaining, fires):
    budgeted = rule("r1", bonus(100), limits={"budget_points": 1000})
    budgets = {} if remaining is None else {"r1": remaining}
    decision = score([budgeted], budget_remaining=budgets, explain=True)
    assert decision.points == (100 if fires else 0)
    if not fires:
        assert decision.skipped == (Skip("r1", SkipReason.BUDGET_SPENT),)


def test_a_budget_never_overspent_is_judged_on_the_multipliers_extra_points():
    rules = [rule("base", per_amount()), rule("x200", multiplier(200), limits={"budget_points": 10_000})]
    assert points_by_rule(score(rules, budget_remaining={"x200": 42})) == {"base": 42, "x200": 42}
    assert points_by_rule(score(rules, budget_remaining={"x200": 41})) == {"base": 42}


def test_an_exclusive_rule_over_budget_lets_the_walk_go_on():
    rules = [
        rule("excl", bonus(500), priority=20, stacking="exclusive", limits={"budget_points": 10_000}),
        rule("low", bonus(100)),
    ]
    decision = score(rules, budget_remaining={"excl": 499}, explain=True)
    assert points_by_rule(decision) == {"low": 100}
    assert Skip("excl", SkipReason.BUDGET_SPENT) in decision.skipped


def test_a_multiplier_over_budget_gives_way_to_a_lower_one_that_fits():
    rules = [
        rule("base", per_amount()),
        rule("x300", multiplier(300), limits={"budget_points": 10_000}),
        rule("x150", multiplier(150), limits={"budget_points": 10_000}),
    ]
    decision = score(rules, budget_remaining={"x300": 50, "x150": 50})
    assert points_by_rule(decision) == {"base": 42, "x150": 21}


def test_dropping_a_base_rule_for_its_budget_shrinks_the_multiplier_until_it_fits():
    rules = [
        rule("big", per_amount(10, 100), limits={"budget_points": 10_000}),  # 420, only 100 left
        rule("small", per_amount(1, 100)),  # 42
        rule("x200", multiplier(200), limits={"budget_points": 10_000}),  # 462 with big, 42 without
    ]
    decision = score(rules, budget_remaining={"big": 100, "x200": 50})
    assert points_by_rule(decision) == {"small": 42, "x200": 42}


def test_rules_that_fire_report_their_period_key_and_version():
    rules = [
        {**rule("r1", per_amount(), limits={"per_member": {"times": 1, "period": "month"}}), "version": 4},
        rule("r2", bonus(5)),
    ]
    decision = score(rules)
    assert decision.breakdown == (
        Line("r1", "Rule r1", 4, 42, "month:2026-11"),
        Line("r2", "Rule r2", 1, 5, None),
    )
    assert decision.ruleset_version == "v1"
    assert decision.skipped == ()


def test_the_breakdown_always_sums_to_the_points():
    rules = [
        rule("a", per_amount(3, 700)),
        rule("b", {"type": "per_item", "points": 7, "category": "coffee"}),
        rule("c", multiplier(175)),
        rule("d", bonus(13)),
    ]
    decision = score(rules, basket_facts(total_minor=9999))
    assert sum(line.points for line in decision.breakdown) == decision.points == 42 + 14 + 42 + 13


def test_an_empty_rule_set_gives_nothing():
    assert score([]).points == 0


def test_the_ledger_can_ask_which_counters_and_budgets_a_purchase_touches():
    ruleset = RuleSet.build(
        [
            rule("day", limits={"per_member": {"times": 1, "period": "day"}}),
            rule("ever", limits={"per_member": {"times": 1, "period": "ever"}, "budget_points": 50}),
            rule("other", merchant_id="mer_b", limits={"per_member": {"times": 1, "period": "day"}}),
            rule("sunday", condition='purchase.local_weekday == "sun"', limits={"budget_points": 5}),
            rule("plain"),
        ]
    )
    facts = basket_facts()
    assert ruleset.usage_keys(facts) == {"day": "day:2026-11-18", "ever": "ever"}
    assert ruleset.budget_rule_ids(facts) == ("ever",)


def test_rule_sets_need_unique_ids():
    with pytest.raises(RuleError):
        RuleSet.build([rule("r1"), rule("r1")])
    with pytest.raises(RuleError):
        RuleSet.build([{"name": "no id", "effect": bonus(1)}])


def test_a_rule_set_rejects_an_invalid_rule_when_built():
    with pytest.raises(RuleError) as caught:
        RuleSet.build([rule("r1", condition="purchase.total > 1")])
    assert caught.value.suggestion == "purchase.total_minor"


def test_missing_facts_are_a_fact_error_not_a_key_error():
    facts = basket_facts()
    del facts["member.tier"]
    with pytest.raises(FactError):
        score([rule("r1", condition='member.tier == "gold"')], facts)
    with pytest.raises(FactError):
        score([rule("r1")], {"purchase.merchant_id": "mer_a"})


def test_explain_gives_the_same_points_and_a_reason_for_every_other_rule():
    rules = [
        rule("fires", per_amount()),
        rule("false", condition="member.birthday_month"),
        rule("limited", limits={"per_member": {"times": 1, "period": "day"}}),
        rule("spent", limits={"budget_points": 5}),
        rule("later", starts_at=PARIS_NOON + timedelta(days=1)),
        rule("elsewhere", merchant_id="mer_z"),
    ]
    ruleset = RuleSet.build(rules)
    facts = basket_facts()
    fast = ruleset.score(facts, usage={"limited": 1})
    explained = ruleset.score(facts, usage={"limited": 1}, explain=True)
    assert (fast.points, fast.breakdown) == (explained.points, explained.breakdown)
    assert {s.rule_id: s.reason for s in explained.skipped} == {
        "false": SkipReason.CONDITION_FALSE,
        "limited": SkipReason.LIMIT_REACHED,
        "spent": SkipReason.BUDGET_SPENT,
        "later": SkipReason.OUT_OF_WINDOW,
        "elsewhere": SkipReason.NOT_IN_SCOPE,
    }


def test_a_compiled_rule_can_be_matched_on_its_own():
    ruleset = RuleSet.build([rule("r1", condition='"coffee" in purchase.categories')])
    compiled = ruleset.get("r1")
    assert compiled is not None and compiled.matches(basket_facts())
    assert not compiled.matches(basket_facts(items=[{"sku": "W", "category": "wine", "quantity": 1}]))
    assert ruleset.get("nope") is None


def test_a_fact_of_the_wrong_type_is_a_fact_error_not_a_crash():
    facts = basket_facts() | {"purchase.total_minor": "4250"}
    with pytest.raises(FactError):
        score([rule("r1", condition="purchase.total_minor > 100")], facts)
    with pytest.raises(FactError):
        score([rule("r1", condition="purchase.total_minor > 100")], facts, explain=True)


def test_the_ledger_helpers_name_a_missing_fact():
    with pytest.raises(FactError) as caught:
        RuleSet.build([rule("r1")]).usage_keys({"purchase.merchant_id": "mer_a"})
    assert caught.value.field == "purchase.occurred_at"
