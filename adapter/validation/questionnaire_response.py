"""A QuestionnaireResponse against its Questionnaire.

Spec: https://hl7.org/fhir/R4/questionnaireresponse.html. The walk and its message ids follow the
HL7 Java validator's QuestionnaireValidator (``validateQuestionannaireResponse`` and
``validateQuestionannaireResponseItems``): unknown linkIds, items in the wrong place or out of
order, required items and groups, repeats, items with answers that are not enabled, group and
display items with answers, children under items vs under answers; every answer then goes to
:mod:`adapter.validation.answers`. Where we differ from the Java validator, on purpose:

- a canonical that does not resolve is an error naming the known versions (LISN needs the
  template; Java only warns);
- an item that is not enabled is reported once and not validated further (Java goes on and
  reports the same mistake several times);
- for a response that is not ``completed``/``amended`` every completeness rule (required,
  minOccurs, only-one-answer/item, maxOccurs) is a warning, as in the .NET validator
  (corpus case string-draft-downgrade); type and value rules stay errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from adapter import fhirpath
from adapter.fhir.registry import Registry, split_canonical
from adapter.issues import Issues
from adapter.validation import answers as answers_module
from adapter.validation import sdc
from adapter.validation.answer_plan import AnswerTest, answer_test
from adapter.validation.answers import EXT, Ctx, check_answer, date_key, ext_value, is_datetime, memo
from adapter.validation.enable_when import SDC_ENABLE_WHEN, Enabler, is_enabled
from adapter.validation.questionnaire import ITEM_TYPES, QuestionnaireIndex, as_dict, as_list, index_for, text_of

Node = dict[str, Any]
Stack = list[tuple[str, Node]]
COMPLETE = ("completed", "amended")
MIN_OCCURS, MAX_OCCURS = EXT + "questionnaire-minOccurs", EXT + "questionnaire-maxOccurs"
CONSTRAINT = EXT + "questionnaire-constraint"


@dataclass(frozen=True)
class Plan:
    """What the walk needs of one item definition, read once (definitions are never changed)."""

    link: Any
    type: str | None
    text: Any
    required: bool
    repeats: bool
    children: list[Node]
    min_occurs: int | None
    max_occurs: int | None
    conditional: bool
    """Has enableWhen or an enableWhenExpression."""
    constraints: list[Node]
    sdc: bool
    """Has an SDC calculatedExpression or answerExpression (FHIRPath) for :mod:`adapter.validation.sdc`."""
    key: str
    """``str(linkId)``: the key its occurrences are gathered under."""


def plan_of(qitem: Node) -> Plan:
    return memo(qitem, "#plan", _plan, qitem)  # type: ignore[no-any-return]


def _plan(qitem: Node) -> Plan:
    low, high = ext_value(qitem, MIN_OCCURS), ext_value(qitem, MAX_OCCURS)
    return Plan(
        link=qitem.get("linkId"), type=text_of(qitem.get("type")), text=qitem.get("text"),
        required=bool(qitem.get("required")), repeats=qitem.get("repeats") is True,
        children=as_list(qitem.get("item")),
        min_occurs=low if isinstance(low, int) and not isinstance(low, bool) else None,
        max_occurs=high if isinstance(high, int) and not isinstance(high, bool) else None,
        conditional=bool(qitem.get("enableWhen")) or ext_value(qitem, SDC_ENABLE_WHEN) is not None,
        constraints=[e for e in as_list(qitem.get("extension")) if isinstance(e, dict) and e.get("url") == CONSTRAINT],
        sdc=sdc.fhirpath_of(qitem, sdc.CALCULATED) is not None or sdc.fhirpath_of(qitem, sdc.ANSWER_EXPRESSION) is not None,
        key=str(qitem.get("linkId")),
    )


def plans_of(qitems: list[Node]) -> list[tuple[Node, Plan]]:
    """The definitions of a list of sibling items (objects only), each with its plan (remembered per list)."""
    return memo(qitems, "#plans", _plans, qitems)  # type: ignore[no-any-return]


def _plans(qitems: list[Any]) -> list[tuple[Node, Plan]]:  # (items as the JSON has them: any value)
    return [(qitem, plan_of(qitem)) for qitem in qitems if isinstance(qitem, dict)]


def validate_response(qr: Node, registry: Registry, issues: Issues, *, path: str = "QuestionnaireResponse",
                      general: bool = False) -> None:
    """Check a QuestionnaireResponse against the Questionnaire it names; issues go to ``issues``.

    The checks before the walk read what they need of the Questionnaire once (:class:`Compiled`), and the
    items are walked by the short path (:class:`_QuickWalker`, the Questionnaire compiled once);
    ``general=True`` walks them the general way (:class:`_Walker`), the reference the tests compare with.
    """
    if not general:  # (the short path, written out here: one call fewer)
        canonical = qr.get("questionnaire")
        q = (registry.resolve(canonical, "Questionnaire")
             if isinstance(canonical, str) and canonical[:1] not in ("#", "") else None)
        if q is None:  # (not found, contained or no canonical: the general way, which reports)
            q = resolve_questionnaire(qr, registry, issues, path=path)
            if q is None:
                return
        hit = answers_module._MEMO.get((id(q), "#compiled"))  # (compiled()'s look-up written out)
        plan: Compiled = hit[1] if hit is not None and hit[0] is q else compiled(q)
        authored = qr.get("authored")
        if plan.plain_use:
            if authored is not None and not is_datetime(authored):
                issues.add("TYPE_SPECIFIC_CHECKS_DT_DATETIME_VALID", expression=f"{path}.authored", code="value",
                           value=str(authored)[:40])
        else:
            _check_questionnaire_use(q, qr, issues, path)
        if plan.major is not None and isinstance(authored, str):
            url = q["url"]
            # the newest version of the url is this one: none is newer, let alone of a greater major
            # (version_key orders numeric majors as numbers; anything else sorts after them)
            if "|" in url or registry.resolve(url, "Questionnaire") is not q:
                _newer_major(q, plan.major, authored, registry, issues, path)
        ctx = Ctx(issues, registry, q, qr.get("status") not in COMPLETE, {}, plan.labels)
        outer, issues.questions = issues.questions, plan.index.items
        try:
            _QuickWalker(ctx, plan, qr).items(plan.top, qr, path, [])
        finally:
            issues.questions = outer
        return
    q = resolve_questionnaire(qr, registry, issues, path=path)
    if q is None:
        return
    _check_questionnaire_use(q, qr, issues, path)
    _check_current_major(q, qr, registry, issues, path)
    ctx = Ctx(issues, registry, q, partial=qr.get("status") not in COMPLETE)
    index = index_for(q)
    outer, issues.questions = issues.questions, index.items  # messages name the question by its text
    try:
        _Walker(ctx, index, qr).items(as_list(q.get("item")), qr, path, [])
    finally:
        issues.questions = outer


def resolve_questionnaire(qr: Node, registry: Registry, issues: Issues, *, path: str) -> Node | None:
    canonical = qr.get("questionnaire")
    if not issues.check(isinstance(canonical, str) and canonical, "QUESTIONNAIRE_QR_Q_NONE", expression=path,
                        code="required"):
        return None
    canonical = cast(str, canonical)  # checked just above
    if canonical.startswith("#"):
        found = next((r for r in as_list(qr.get("contained")) if isinstance(r, dict)
                      and r.get("resourceType") == "Questionnaire" and r.get("id") == canonical[1:]), None)
    else:
        found = registry.resolve(canonical, "Questionnaire")
    if found is not None:
        return found
    url, version = split_canonical(canonical)
    known = registry.versions(url)
    listed = ", ".join(f"{url}|{v}" for v in known) or "inga / none"
    if known and version:
        issues.add("QUESTIONNAIRE_QR_Q_UNKNOWN_VERSION", expression=f"{path}.questionnaire", code="not-found",
                   url=url, version=version, known=listed)
    else:
        issues.add("QUESTIONNAIRE_QR_Q_NOTFOUND", expression=f"{path}.questionnaire", code="not-found",
                   questionnaire=canonical, known=listed)
    return None


def _check_questionnaire_use(q: Node, qr: Node, issues: Issues, path: str) -> None:
    name = q.get("url") or q.get("id")
    if q.get("status") == "draft":
        issues.add("QUESTIONNAIRE_QR_Q_DRAFT", expression=f"{path}.questionnaire",
                   severity="warning", code="business-rule", questionnaire=name)
    if q.get("status") == "retired":
        issues.add("QUESTIONNAIRE_QR_Q_RETIRED", expression=f"{path}.questionnaire",
                   severity="warning", code="business-rule", questionnaire=name)
    period, authored = q.get("effectivePeriod"), qr.get("authored")
    if authored is not None and not is_datetime(authored):
        issues.add("TYPE_SPECIFIC_CHECKS_DT_DATETIME_VALID", expression=f"{path}.authored", code="value",
                   value=str(authored)[:40])
        return
    if not isinstance(period, dict) or not isinstance(authored, str) or date_key(authored) is None:
        return
    start, end = period.get("start"), period.get("end")
    if isinstance(start, str) and date_key(start) is not None:
        if _before(authored, start):
            issues.add("QUESTIONNAIRE_QR_AUTHOR_START", expression=f"{path}.authored",
                       severity="warning", code="business-rule", authored=authored, start=start)
    if isinstance(end, str) and date_key(end) is not None:
        if _before(end, authored):
            issues.add("QUESTIONNAIRE_QR_AUTHOR_END", expression=f"{path}.authored",
                       severity="warning", code="business-rule", authored=authored, end=end)


def _check_current_major(q: Node, qr: Node, registry: Registry, issues: Issues, path: str) -> None:
    """DESIGN §3: once a newer major version is in force, an older one is readable but not accepted."""
    url, version, authored = q.get("url"), q.get("version"), qr.get("authored")
    if not (isinstance(url, str) and isinstance(version, str) and isinstance(authored, str)):
        return
    major = _major(version)
    if major is None:
        return
    _newer_major(q, major, authored, registry, issues, path)


def _newer_major(q: Node, major: int, authored: str, registry: Registry, issues: Issues, path: str) -> None:
    """:func:`_check_current_major` once ``q``'s url, version and major and the response's authored are known."""
    url, version = q["url"], q["version"]
    for newer in reversed(registry.versions(url)):
        if (_major(newer) or 0) <= major:
            continue  # (not newer: no need to look it up)
        candidate = registry.resolve(f"{url}|{newer}", "Questionnaire") or {}
        start = as_dict(candidate.get("effectivePeriod")).get("start")
        if (candidate.get("status") == "active"
                and isinstance(start, str) and date_key(start) is not None and not _before(authored, start)):
            issues.add("LISN_TEMPLATE_MAJOR_SUPERSEDED", expression=f"{path}.questionnaire", code="business-rule",
                       url=url, version=version, current=newer, start=start)
            return


@lru_cache(maxsize=1024)
def _major(version: str) -> int | None:  # (remembered: versions of definitions, not of the input)
    head = version.split(".")[0]
    return int(head) if head.isdigit() else None


def _before(a: str, b: str) -> bool:
    """``a`` lies wholly before ``b``, comparing at the precision of the coarser of the two."""
    precision = min(_precision(a), _precision(b))
    return (date_key(a) or ())[:precision] < (date_key(b) or ())[:precision]


def _precision(text: str) -> int:
    return 7 if "T" in text else len(text.split("-"))


class _Walker:
    def __init__(self, ctx: Ctx, index: QuestionnaireIndex, root: Node) -> None:
        self.ctx, self.index, self.root = ctx, index, root
        self.soft = "warning" if ctx.partial else "error"

    def items(self, qitems: list[Node], node: Node, path: str, stack: Stack) -> None:
        """The response items below ``node`` against the definitions ``qitems``."""
        issues = self.ctx.issues
        positions = self.index.positions(qitems)
        found: dict[str, list[tuple[Node, str]]] = {}
        last = -1
        for i, item in enumerate(as_list(node.get("item"))):
            ipath = f"{path}.item[{i}]"
            if not isinstance(item, dict):
                continue
            link = item.get("linkId")
            if not isinstance(link, str) or not link:
                issues.add("QUESTIONNAIRE_QR_ITEM_NOLINKID", expression=ipath, code="required")
                continue
            pos = positions.get(link)
            if pos is None:
                self._misplaced(item, ipath, link, stack)
                continue
            if pos < last:
                issues.add("QUESTIONNAIRE_QR_ITEM_ORDER", expression=ipath, code="structure", linkId=link)
            last = pos
            found.setdefault(link, []).append((item, ipath))
        for qitem, plan in plans_of(qitems):
            self._occurrences(qitem, plan, found.get(plan.key) or [], path, stack)

    def _misplaced(self, item: Node, ipath: str, link: str, stack: Stack) -> None:
        qitem = self.index.items.get(link)
        if not self.ctx.issues.check(qitem is not None, "QUESTIONNAIRE_QR_ITEM_NOTFOUND", expression=ipath,
                                     code="not-found", linkId=link):
            return
        self.ctx.issues.add("QUESTIONNAIRE_QR_ITEM_WRONG_PLACE", expression=ipath, code="structure", linkId=link,
                            parent=self.ctx.issues.label(self.index.parent.get(link) or "QuestionnaireResponse"))
        self.item(qitem or {}, plan_of(qitem or {}), item, ipath, stack + [(link, item)])

    def _occurrences(self, qitem: Node, plan: Plan, occ: list[tuple[Node, str]], path: str, stack: Stack) -> None:
        issues = self.ctx.issues
        link = plan.link
        problems: list[str] = []
        enabled = not plan.conditional or is_enabled(qitem, self.index, self.root, stack, problems)
        if problems and (occ or plan.required or plan.min_occurs):  # where it matters: said, never silently
            issues.add("LISN_SDC_ENABLE_WHEN_UNEVALUABLE", expression=occ[0][1] if occ else path, severity="warning",
                       code="not-supported", diagnostics=problems[0], linkId=link)
        if not enabled:
            for node, p in occ:
                # an item with only a linkId does not count (as the Java validator)
                if node.get("answer") or node.get("item"):
                    issues.add("QUESTIONNAIRE_QR_ITEM_NOTENABLED2", expression=p, code="business-rule", linkId=link)
            return
        if not occ:
            if plan.required:
                issues.add("QUESTIONNAIRE_QR_ITEM_MISSING", expression=path,
                           severity=self.soft, code="required", linkId=link)
            low = plan.min_occurs
            if low is not None and low >= 1 and not plan.required:
                issues.add("QUESTIONNAIRE_QR_ITEM_MIN_OCCURS",
                           expression=path, severity=self.soft, code="required", linkId=link, min=low, count=0)
            return
        if len(occ) > 1 and not plan.repeats:
            issues.add("QUESTIONNAIRE_QR_ITEM_ONLYONEI", expression=occ[1][1], severity=self.soft, code="structure",
                       linkId=link, count=len(occ))
        if plan.type == "group":
            self._occurs(plan, len(occ), occ[-1][1])
        key = plan.key
        for n, p in occ:
            self.item(qitem, plan, n, p, stack + [(key, n)])

    def _occurs(self, plan: Plan, count: int, path: str) -> None:
        low, high = plan.min_occurs, plan.max_occurs
        if high is not None:
            if count > high:
                self.ctx.issues.add("QUESTIONNAIRE_QR_ITEM_MAX_OCCURS", expression=path,
                                    severity=self.soft, code="structure", linkId=plan.link, max=high, count=count)
        if low is not None:
            if count < low:
                self.ctx.issues.add("QUESTIONNAIRE_QR_ITEM_MIN_OCCURS", expression=path,
                                    severity=self.soft, code="required", linkId=plan.link, min=low, count=count)

    def item(self, qitem: Node, plan: Plan, node: Node, path: str, stack: Stack) -> None:
        """One response item against its definition (``plan``: :func:`plan_of` it)."""
        issues = self.ctx.issues
        link, t = plan.link, plan.type
        text = node.get("text")
        if text and text != plan.text:
            issues.add("QUESTIONNAIRE_QR_ITEM_TEXT", expression=f"{path}.text", code="value", linkId=link)
        answers = [a for a in as_list(node.get("answer")) if isinstance(a, dict)]
        if not issues.check(t in ITEM_TYPES, "QUESTIONNAIRE_QR_ITEM_NOTYPE", expression=path, severity="fatal",
                            code="structure", linkId=link, type=t):
            return
        if t == "group":
            self._group(plan, node, answers, path, stack)
        elif t == "display":
            if answers:
                issues.add("QUESTIONNAIRE_QR_ITEM_DISPLAY_NO_VALUE", expression=path, code="structure",
                           linkId=link)
            if node.get("item"):
                issues.add("QUESTIONNAIRE_QR_ITEM_DISPLAY", expression=path, code="structure",
                           linkId=link)
        else:
            self._question(qitem, plan, node, answers, path, stack)
        if plan.constraints:
            self._constraints(plan, qitem, node, path)

    def _group(self, plan: Plan, node: Node, answers: list[Node], path: str, stack: Stack) -> None:
        issues, link = self.ctx.issues, plan.link
        if answers:
            issues.add("QUESTIONNAIRE_QR_ITEM_GROUP", expression=path, code="structure", linkId=link,
                       type="group")
        if plan.required and not node.get("item"):
            issues.add("QUESTIONNAIRE_QR_ITEM_GROUP_REQUIRED",
                       expression=path, severity=self.soft, code="required", linkId=link)
        self.items(plan.children, node, path, stack)

    def _question(self, qitem: Node, plan: Plan, node: Node, answers: list[Node], path: str, stack: Stack) -> None:
        issues, link = self.ctx.issues, plan.link
        if plan.required and not answers:
            issues.add("QUESTIONNAIRE_QR_ITEM_MISSING", expression=path,
                       severity=self.soft, code="required", linkId=link)
        if len(answers) > 1 and not plan.repeats:
            issues.add("QUESTIONNAIRE_QR_ITEM_ONLYONEA", expression=path, severity=self.soft, code="structure",
                       linkId=link, count=len(answers))
        if answers or not plan.required:
            self._occurs(plan, len(answers), path)
        if plan.sdc:
            sdc.check_calculated(self.ctx, qitem, node, answers, self.root, path)
            sdc.check_answer_expression(self.ctx, qitem, node, answers, self.root, path)
        for j, answer in enumerate(answers):
            apath = f"{path}.answer[{j}]"
            check_answer(self.ctx, qitem, answer, apath, len(answers))
            if plan.children or answer.get("item"):
                self.items(plan.children, answer, apath, stack)
        if node.get("item"):
            issues.add("QUESTIONNAIRE_QR_ITEM_GROUP_ANSWER", expression=path, code="structure",
                       linkId=link)

    def _constraints(self, plan: Plan, qitem: Node, node: Node, path: str) -> None:
        for ext in plan.constraints:
            parts = {e.get("url"): next((v for k, v in e.items() if k.startswith("value")), None)
                     for e in as_list(ext.get("extension")) if isinstance(e, dict)}
            self._constraint(qitem, node, path, parts)

    def _constraint(self, qitem: Node, node: Node, path: str, parts: dict[Any, Any]) -> None:
        severity = "error" if parts.get("severity") == "error" else "warning"
        human = parts.get("human") or parts.get("key")
        try:
            # the item typed as QuestionnaireResponse.item, so that choice elements (answer.value) resolve
            result = fhirpath.evaluate(fhirpath.typed(node, "QuestionnaireResponse.item"), str(parts.get("expression")),
                                       {"resource": self.root})
        except Exception:  # noqa: BLE001 - any failure of a third-party expression means "cannot evaluate"
            self.ctx.issues.add("QUESTIONNAIRE_QR_ITEM_INVARIANT_FAILED", expression=path, severity="warning",
                                code="invariant", linkId=qitem.get("linkId"), human=human)
            return
        if result != [True]:
            self.ctx.issues.add("QUESTIONNAIRE_QR_ITEM_INVARIANT", expression=path, severity=severity,
                                code="invariant", linkId=qitem.get("linkId"), human=human)


# -- the short path -----------------------------------------------------------------------------
# The same walk as _Walker, issue for issue, with each item definition read once per Questionnaire
# object (a _Def: its Plan's fields, its children's positions, its enableWhen, its label and a quick
# answer test), and check_answer run only for an answer the quick test cannot pass (answer_plan).
# tests/unit/validation/test_qr_short_path.py compares it with _Walker on every response of the
# examples, cases and corpus, on mutated responses and on mutated Questionnaires.

_QUESTION, _GROUP, _DISPLAY, _UNKNOWN = 0, 1, 2, 3
_EMPTY: list[Node] = []


def _no_test(_ctx: Ctx, _answer: Node, _count: int) -> bool:  # (a group's or display item's: never asked)
    return False


class _Def:
    """One item definition, read for the short path (the plan's fields it uses, copied for speed)."""

    __slots__ = ("qitem", "plan", "kind", "children", "kids", "clean", "enabler", "absent_matters", "occurs",
                 "single", "link", "key", "text", "required", "repeats", "constraints", "sdc", "label", "extra")

    def __init__(self, qitem: Node, plan: Plan, index: QuestionnaireIndex, kids: _Siblings, labeller: Issues) -> None:
        self.qitem, self.plan, self.kids, self.children = qitem, plan, kids, kids.defs
        # the question as issues about it name it (labeller.questions is index.items, as in the walk)
        self.label = labeller.label(plan.link)
        self.link, self.key, self.text, self.required, self.repeats = (plan.link, plan.key, plan.text, plan.required,
                                                                       plan.repeats)
        self.constraints, self.sdc = bool(plan.constraints), plan.sdc
        t = plan.type
        self.kind = (_UNKNOWN if t not in ITEM_TYPES else _GROUP if t == "group" else _DISPLAY if t == "display"
                     else _QUESTION)
        self.clean: AnswerTest = answer_test(qitem) if self.kind == _QUESTION else _no_test
        self.enabler = Enabler(qitem, index) if plan.conditional else None
        # an item with no occurrence needs a look only when it is required, has a minOccurs or an
        # enableWhen (evaluated as the general path does, so that what fails there fails here too)
        self.absent_matters = plan.required or bool(plan.min_occurs) or plan.conditional
        self.occurs = plan.min_occurs is not None or plan.max_occurs is not None
        # one occurrence of it needs no more than its own check: no enableWhen, no group min/maxOccurs
        self.single = self.enabler is None and not (self.kind == _GROUP and self.occurs)
        # a question with min/maxOccurs or SDC expressions to check (_QuickWalker._question_rules)
        self.extra = self.occurs or plan.sdc


class _Siblings:
    """The definitions of one list of sibling items, as the walk reads them."""

    __slots__ = ("defs", "positions", "regular", "matters")

    def __init__(self, defs: list[_Def], positions: dict[str, int], qitems: list[Any]) -> None:
        self.defs, self.positions = defs, positions
        links = [q.get("linkId") for q in qitems if isinstance(q, dict)]
        # every definition an object with a linkId of its own (a non-empty string): a linkId's
        # position is its definition's index in defs, and its occurrences are that definition's only
        self.regular = (len(links) == len(qitems) and all(isinstance(link, str) and link for link in links)
                        and len(set(links)) == len(links))
        self.matters = any(d.absent_matters for d in defs)
        """Some definition needs a look when it has no occurrence."""


@dataclass(frozen=True)
class Compiled:
    """A Questionnaire read for the short path (never changed once built, as the Questionnaire)."""

    questionnaire: Node
    index: QuestionnaireIndex
    top: _Siblings
    by_link: dict[str, _Def]
    """linkId -> the definition ``index.items`` names (for an item in the wrong place)."""
    labels: dict[str, str]
    """linkId -> the label ``Issues.label`` gives it while the walk runs (``issues.questions`` = ``index.items``)."""
    plain_use: bool
    """Neither draft nor retired and no effectivePeriod to compare with: of :func:`_check_questionnaire_use`
    only the authored check applies."""
    major: int | None
    """The major version, when ``url`` and ``version`` are strings and the version has one (else
    :func:`_check_current_major` has nothing to do)."""


def compiled(q: Node) -> Compiled:
    """The short path's reading of ``q``, remembered per object (as the plans: :func:`answers.memo`)."""
    hit = answers_module._MEMO.get((id(q), "#compiled"))  # (memo's look-up written out: the usual case)
    if hit is not None and hit[0] is q:
        return hit[1]  # type: ignore[no-any-return]
    return memo(q, "#compiled", _compile, q)  # type: ignore[no-any-return]


def _compile(q: Node) -> Compiled:
    index = index_for(q)
    by_id: dict[int, _Def] = {}
    labeller = Issues()
    labeller.questions = index.items

    def read(qitems: list[Node]) -> _Siblings:
        defs = []
        for qitem, plan in plans_of(qitems):
            d = by_id[id(qitem)] = _Def(qitem, plan, index, read(plan.children), labeller)
            defs.append(d)
        return _Siblings(defs, dict(index.positions(qitems)), qitems)

    top = read(as_list(q.get("item")))
    period = q.get("effectivePeriod")
    dated = isinstance(period, dict) and any(isinstance(period.get(k), str) and date_key(period[k]) is not None
                                            for k in ("start", "end"))
    url, version = q.get("url"), q.get("version")
    major = _major(version) if isinstance(url, str) and isinstance(version, str) else None
    result = Compiled(q, index, top, {link: by_id[id(item)] for link, item in index.items.items()},
                      {link: labeller.label(link) for link in index.items},
                      q.get("status") not in ("draft", "retired") and not dated, major)
    return result


class _QuickWalker(_Walker):
    """:class:`_Walker` on a compiled Questionnaire (the rare parts: its own methods)."""

    def __init__(self, ctx: Ctx, plan: Compiled, root: Node) -> None:  # (_Walker's, written out)
        self.ctx, self.index, self.root, self.plan, self.issues = ctx, plan.index, root, plan, ctx.issues
        self.soft = "warning" if ctx.partial else "error"

    def items(self, sibs: _Siblings, node: Node, path: str, stack: Stack) -> None:  # type: ignore[override]
        raw = node.get("item")
        if not isinstance(raw, list) or not raw:
            if sibs.matters:
                for d in sibs.defs:
                    if d.absent_matters:
                        self._occurrences_of(d, [], path, stack)
            return
        if not sibs.regular:
            self._items(sibs, raw, path, stack)
            return
        # regular siblings: first only read the items; anything the first pass of _items would
        # report (no linkId, not here, out of order, repeated) sends the list there from the start
        positions = sibs.positions
        hits = []
        last = -1
        for i, item in enumerate(raw):
            if isinstance(item, dict):
                link = item.get("linkId")
                pos = positions.get(link) if isinstance(link, str) else None
                if pos is None or pos <= last:
                    self._items(sibs, raw, path, stack)
                    return
                last = pos
                hits.append((pos, item, i))
        defs = sibs.defs
        k = 0
        for pos, item, i in hits:
            if sibs.matters:
                while k < pos:
                    d = defs[k]
                    if d.absent_matters:
                        self._occurrences_of(d, [], path, stack)
                    k += 1
                k = pos + 1
            d = defs[pos]
            if d.single:
                stack.append((d.key, item))
                self._item(d, item, f"{path}.item[{i}]", stack)
                stack.pop()
            else:
                self._occurrences_of(d, [(item, f"{path}.item[{i}]")], path, stack)
        if sibs.matters:
            for d in defs[k:]:
                if d.absent_matters:
                    self._occurrences_of(d, [], path, stack)

    def _items(self, sibs: _Siblings, raw: list[Any], path: str, stack: Stack) -> None:
        """:meth:`items` of any list of items (``raw``: the node's, not empty) against any siblings."""
        issues = self.issues
        found: dict[str, list[tuple[Node, str]]] = {}
        positions = sibs.positions
        last = -1
        for i, item in enumerate(raw):
            if not isinstance(item, dict):
                continue
            link = item.get("linkId")
            if not isinstance(link, str) or not link:
                issues.add("QUESTIONNAIRE_QR_ITEM_NOLINKID", expression=f"{path}.item[{i}]", code="required")
                continue
            pos = positions.get(link)
            if pos is None:
                self._misplaced(item, f"{path}.item[{i}]", link, stack)
                continue
            if pos < last:
                issues.add("QUESTIONNAIRE_QR_ITEM_ORDER", expression=f"{path}.item[{i}]", code="structure",
                           linkId=link)
            last = pos
            occ = found.get(link)
            if occ is None:
                found[link] = [(item, f"{path}.item[{i}]")]
            else:
                occ.append((item, f"{path}.item[{i}]"))
        for d in sibs.defs:
            occ = found.get(d.key)
            if occ is None:
                if d.absent_matters:
                    self._occurrences_of(d, [], path, stack)
            elif d.single and len(occ) == 1:
                node_, ipath = occ[0]
                stack.append((d.key, node_))
                self._item(d, node_, ipath, stack)
                stack.pop()
            else:
                self._occurrences_of(d, occ, path, stack)

    def _misplaced(self, item: Node, ipath: str, link: str, stack: Stack) -> None:
        d = self.plan.by_link.get(link)
        if not self.issues.check(d is not None, "QUESTIONNAIRE_QR_ITEM_NOTFOUND", expression=ipath,
                                 code="not-found", linkId=link):
            return
        assert d is not None
        self.issues.add("QUESTIONNAIRE_QR_ITEM_WRONG_PLACE", expression=ipath, code="structure", linkId=link,
                        parent=self.issues.label(self.index.parent.get(link) or "QuestionnaireResponse"))
        stack.append((link, item))
        self._item(d, item, ipath, stack)
        stack.pop()

    def _occurrences_of(self, d: _Def, occ: list[tuple[Node, str]], path: str, stack: Stack) -> None:
        issues = self.issues
        plan = d.plan
        link, label = plan.link, d.label
        if d.enabler is not None:
            problems: list[str] = []
            enabled = d.enabler.enabled(self.root, stack, problems)
            if problems and (occ or plan.required or plan.min_occurs):
                issues.add("LISN_SDC_ENABLE_WHEN_UNEVALUABLE", expression=occ[0][1] if occ else path,
                           severity="warning", code="not-supported", diagnostics=problems[0], linkId=link, label=label)
            if not enabled:
                for node, p in occ:
                    if node.get("answer") or node.get("item"):
                        issues.add("QUESTIONNAIRE_QR_ITEM_NOTENABLED2", expression=p, code="business-rule",
                                   linkId=link, label=label)
                return
        if not occ:
            if plan.required:
                issues.add("QUESTIONNAIRE_QR_ITEM_MISSING", expression=path,
                           severity=self.soft, code="required", linkId=link, label=label)
            low = plan.min_occurs
            if low is not None and low >= 1 and not plan.required:
                issues.add("QUESTIONNAIRE_QR_ITEM_MIN_OCCURS",
                           expression=path, severity=self.soft, code="required", linkId=link, label=label, min=low, count=0)
            return
        if len(occ) > 1 and not plan.repeats:
            issues.add("QUESTIONNAIRE_QR_ITEM_ONLYONEI", expression=occ[1][1], severity=self.soft, code="structure",
                       linkId=link, label=label, count=len(occ))
        if d.kind == _GROUP and d.occurs:
            self._occurs(plan, len(occ), occ[-1][1])
        key = plan.key
        for n, p in occ:
            stack.append((key, n))
            self._item(d, n, p, stack)
            stack.pop()

    def _item(self, d: _Def, node: Node, path: str, stack: Stack) -> None:
        issues = self.issues
        text = node.get("text")
        if text and text != d.text:
            issues.add("QUESTIONNAIRE_QR_ITEM_TEXT", expression=f"{path}.text", code="value", linkId=d.link, label=d.label)
        raw = node.get("answer")
        if not isinstance(raw, list) or not raw:
            answers = _EMPTY
        elif len(raw) == 1:  # (the usual case, without a comprehension)
            answers = raw if isinstance(raw[0], dict) else _EMPTY
        else:
            answers = [a for a in raw if isinstance(a, dict)]
        kind = d.kind
        if kind == _QUESTION:
            count = len(answers)
            if not count:
                if d.required:
                    issues.add("QUESTIONNAIRE_QR_ITEM_MISSING", expression=path,
                               severity=self.soft, code="required", linkId=d.link, label=d.label)
            elif count > 1 and not d.repeats:
                issues.add("QUESTIONNAIRE_QR_ITEM_ONLYONEA", expression=path, severity=self.soft, code="structure",
                           linkId=d.link, label=d.label, count=count)
            if d.extra:
                self._question_rules(d, node, answers, path)
            if count:
                clean, ctx = d.clean, self.ctx
                if d.children:
                    for j, answer in enumerate(answers):
                        if not clean(ctx, answer, count):
                            check_answer(ctx, d.qitem, answer, f"{path}.answer[{j}]", count)
                        self.items(d.kids, answer, f"{path}.answer[{j}]", stack)
                else:
                    for j, answer in enumerate(answers):
                        if not clean(ctx, answer, count):
                            check_answer(ctx, d.qitem, answer, f"{path}.answer[{j}]", count)
                        if answer.get("item"):
                            self.items(d.kids, answer, f"{path}.answer[{j}]", stack)
            if node.get("item"):
                issues.add("QUESTIONNAIRE_QR_ITEM_GROUP_ANSWER", expression=path, code="structure",
                           linkId=d.link, label=d.label)
        elif kind == _GROUP:
            if answers:
                issues.add("QUESTIONNAIRE_QR_ITEM_GROUP", expression=path, code="structure", linkId=d.link, label=d.label,
                           type="group")
            if d.required and not node.get("item"):
                issues.add("QUESTIONNAIRE_QR_ITEM_GROUP_REQUIRED",
                           expression=path, severity=self.soft, code="required", linkId=d.link, label=d.label)
            self.items(d.kids, node, path, stack)
        elif kind == _DISPLAY:
            if answers:
                issues.add("QUESTIONNAIRE_QR_ITEM_DISPLAY_NO_VALUE", expression=path, code="structure",
                           linkId=d.link, label=d.label)
            if node.get("item"):
                issues.add("QUESTIONNAIRE_QR_ITEM_DISPLAY", expression=path, code="structure",
                           linkId=d.link, label=d.label)
        else:
            issues.add("QUESTIONNAIRE_QR_ITEM_NOTYPE", expression=path, severity="fatal",
                       code="structure", linkId=d.link, label=d.label, type=d.plan.type)
            return
        if d.constraints:
            self._constraints(d.plan, d.qitem, node, path)

    def _question_rules(self, d: _Def, node: Node, answers: list[Node], path: str) -> None:
        """A question's min/maxOccurs and SDC expressions (:attr:`_Def.extra`)."""
        count = len(answers)
        if d.occurs and (count or not d.required):
            self._occurs(d.plan, count, path)
        if d.sdc:
            sdc.check_calculated(self.ctx, d.qitem, node, answers, self.root, path)
            sdc.check_answer_expression(self.ctx, d.qitem, node, answers, self.root, path)
