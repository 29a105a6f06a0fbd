"""Compose tests/data/sms_train.jsonl: training SMS for the learned layer of bot/assess, in many voices.

Every fragment below was written for this project (fictional lenders, masked names and numbers). A message is
an optional sender tag, one to three labelled sentences and an optional closing; its categories are the union
of its sentences' labels and its risk follows the contract rule. Seeded, so the file is reproducible:

    .venv/bin/python scripts/compose_sms_train.py            # writes tests/data/sms_train.jsonl

Extra corpus files in the contract's JSON format can be merged with --add FILE... (duplicates by text dropped).
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "sms_train.jsonl"
ORDER = (
    "false_legal_threat",
    "impersonation",
    "third_party_contact",
    "insult_or_intimidation",
    "privacy_exposure",
    "scam_payment",
)
HIGH = {"impersonation", "insult_or_intimidation", "privacy_exposure", "scam_payment"}
F, IMP, TPC, INS, PRIV, SCAM = ORDER

# (text, categories). {N} = a masked name, {A} = an amount, {D} = a date, {P} = a masked mobile number.
HANS: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "lawful": [
        ("尊敬的{N}，您的借款本期应还{A}元已逾期2天，请登录APP还款", ()),
        ("您尾号3321的账单已到期未还，请于{D}前通过官方渠道还款", ()),
        ("逾期记录将按规定报送金融信用信息基础数据库", ()),
        ("如您暂时有困难，可在APP内申请延期或分期，协商不收取任何费用", ()),
        ("本公司已委托某某信息咨询有限公司对您的逾期账款进行提醒，请知悉", ()),
        ("您的债权已依法转让给某某资产管理有限公司，后续请向受让方还款", ()),
        ("我司保留依照合同向有管辖权的人民法院提起诉讼的权利", ()),
        ("如对账单有异议，请致电官方客服核对", ()),
        ("我司工作人员不会要求您向任何个人账户转账，请认准官方还款渠道", ()),
        ("请警惕冒充我司的诈骗电话，任何要求屏幕共享的都是骗子", ()),
        ("已还款请忽略本短信", ()),
        ("您可通过APP“我的-还款”一键结清", ()),
        ("为避免产生更多罚息，请尽快处理", ()),
        ("如需协商还款方案，请工作日9:00-18:00致电官方客服", ()),
        ("本函仅为债务提醒，不代表任何司法机关意见", ()),
        ("我所受委托方委托，提醒您于15日内联系委托方处理欠款", ()),
        ("我司外访人员将于本周四上午上门拜访，届时出示工作证，如不方便请提前致电改约", ()),
        ("因多次联系不上您，我们致电了您的紧急联系人，仅请其转告您回电，未透露任何借款信息", ()),
        ("作为本笔借款的保证人，请您督促借款人按时还款，或依约履行保证责任", ()),
        ("您的信用卡最低还款额为{A}元，请按时还款以免影响信用记录", ()),
        ("您的分期申请已通过，首期还款日为{D}", ()),
        ("若逾期超过90天，我司可能依法申请支付令或提起民事诉讼", ()),
        ("如您认为催收人员存在不当行为，可拨打我司投诉电话，也可向金融监管部门反映", ()),
        ("请核对您的还款账户户名为某某消费金融有限公司", ()),
        ("法院判决生效后如仍未履行，我司将依法申请强制执行", ()),
    ],
    "court_genuine": [
        ("（2025）粤0305民初{K}号案件已立案受理，请登录人民法院在线服务查看起诉状副本", ()),
        ("您与某某银行金融借款合同纠纷一案已转入诉前调解，本院特邀调解员将致电联系，可拨打当地区号+12368核实", ()),
        ("（2025）苏0102民初{K}号案定于{D}上午9时在本院第五法庭开庭审理，请准时到庭", ()),
        ("本院已向您送达电子传票，请登录人民法院送达平台查看，如有疑问请拨打12368", ()),
        ("（2025）浙0106执{K}号：您未履行生效判决，本院已依法限制高消费，详情请拨打当地区号+12368查询", ()),
        ("（2024）京0108执{K}号案件被执行人：请于收到本通知后5日内向本院如实申报财产，查询可通过人民法院在线服务", ()),
        ("您作为被告的（2025）沪0115民初{K}号案件已作出判决，裁判文书已通过人民法院送达平台送达", ()),
        ("本院受理的（2025）川0107民初{K}号案件将进行线上调解，请通过人民法院在线服务小程序参加", ()),
    ],
    F: [
        ("再不还钱就等着坐牢吧", (F,)),
        ("你的案子已经移交经侦，准备接受调查", (F,)),
        ("三天内不处理，冻结你名下所有银行卡和微信支付宝", (F,)),
        ("你已被列入征信黑名单，这辈子别想再贷款", (F,)),
        ("你涉嫌恶意透支，已构成诈骗罪", (F,)),
        ("今天不还，明天就强制执行你的工资", (F,)),
        ("你孩子以后考公政审肯定过不了", (F,)),
        ("高铁飞机你以后都别想坐了", (F,)),
        ("平台已对你立案，刑事责任你自己承担", (F,)),
        ("法院马上就会来查封你的房子", (F,)),
        ("逾期不还法院将对你司法拘留十五天", (F,)),
        ("你的欠款已进入刑事程序，律师团队已备齐材料", (F,)),
        ("再拖下去你全家都会被限制出行", (F,)),
        ("我们已经申请把你列为失信人员", (F,)),
    ],
    IMP: [
        ("这里是某某区公安分局经侦大队，你的网贷逾期案已转到我们这里，限今日结清欠款", (IMP, F)),
        ("我是某某市检察院的，你的欠款问题再不处理就要提起公诉", (IMP, F)),
        ("本院已受理你的欠款纠纷，请今天内联系本院专员{P}还款", (IMP,)),
        ("今日不处理欠款，将由户籍地派出所民警上门传唤", (IMP, F)),
        ("你的欠款已报备属地公安，民警会配合我们上门带你回去协助调查", (IMP, F)),
        ("【金融监管局】你的网贷逾期已被监管部门通报，请立即联系专员结清", (IMP,)),
        ("本仲裁委已作出裁决，请立即联系仲裁秘书{P}缴清欠款", (IMP,)),
    ],
    TPC: [
        ("明天开始挨个通知你通讯录里的人", (TPC,)),
        ("你老板的电话我们已经有了，下午就打过去说说你欠钱的事", (TPC,)),
        ("你父母那边我们已经联系过了，他们都知道你欠钱不还", (TPC,)),
        ("今天不还就去你们村委会走访一下", (TPC,)),
        ("你同事我们会一个一个发短信告诉他们", (TPC,)),
        ("我们会给你孩子的班主任打个电话", (TPC,)),
        ("你公司人事我们已经联系了，要求单位协助催款", (TPC,)),
        ("你的紧急联系人已经收到我们的逾期通知了", (TPC,)),
        ("晚上我们会打给你老婆，让她帮你还", (TPC,)),
        ("你亲戚朋友都会知道你借钱不还", (TPC,)),
        ("再不接电话，我们就转告你爸妈", (TPC,)),
        ("我们准备去你公司找你领导谈谈", (TPC, INS)),
    ],
    INS: [
        ("你这个老赖，借钱的时候怎么不装死", (INS,)),
        ("他妈的，钱不还电话也不接", (INS,)),
        ("狗东西，欠钱不还还拉黑我们", (INS,)),
        ("你这种人不得好死", (INS,)),
        ("出门小心点，我们知道你住哪", (INS,)),
        ("今晚我们的人就在你家楼下等你", (INS,)),
        ("信不信我找人收拾你", (INS,)),
        ("你等着，让你全家不得安宁", (INS,)),
        ("垃圾东西，脸都不要了", (INS,)),
        ("明天就上门找你算账", (INS,)),
        ("你女儿在哪个学校上学我们一清二楚", (INS,)),
        ("别逼我们用特殊手段", (INS,)),
        ("我们兄弟几个明天去你家门口堵你", (INS,)),
        ("你个废物，连这点钱都还不起", (INS,)),
        ("老子今天就跟你耗上了", (INS,)),
        ("再不还钱打断你的腿", (INS,)),
    ],
    PRIV: [
        ("你的身份证照片和欠款记录今晚就发到网上", (PRIV,)),
        ("我们会把你的照片做成海报贴满你小区", (PRIV,)),
        ("不还钱就把你的借款合同发到抖音上曝光", (PRIV,)),
        ("你的聊天记录我们会公开到本地论坛", (PRIV,)),
        ("你的照片已经做成通缉令了", (PRIV, INS)),
        ("今晚就把你的欠款信息发到你家族群", (PRIV, TPC)),
        ("我们会在你朋友圈和同学群里曝光你", (PRIV, TPC)),
        ("你的个人信息会被群发给你通讯录所有人", (PRIV, TPC)),
        ("让整个小区都知道你是老赖", (PRIV, INS)),
    ],
    SCAM: [
        ("请将欠款转入财务专员个人账户6222****8871，户名李某", (SCAM,)),
        ("官方通道已关闭，请扫描下方二维码还款", (SCAM,)),
        ("缴纳500元手续费即可消除你的逾期记录", (SCAM,)),
        ("请把收到的验证码发给专员核对身份", (SCAM,)),
        ("请下载会议软件开启屏幕共享，专员协助你处理", (SCAM,)),
        ("请把钱转到国家指定的安全账户", (SCAM,)),
        ("加专员微信zhuanyuan_88转账，当天销账", (SCAM,)),
        ("点击 http://45.67.89.12/hk 完成还款", (SCAM,)),
        ("交2000元保证金就能撤销对你的起诉", (SCAM,)),
        ("支付宝转账给承办人，备注你的姓名", (SCAM,)),
    ],
}

HANT: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "lawful": [
        ("台端之信用卡帳款已逾期，請儘速透過官方管道繳款", ()),
        ("您好，您本期應繳金額為{A}元，如已繳款請忽略本簡訊", ()),
        ("如有還款困難，歡迎來電洽詢分期方案，協商不收取任何費用", ()),
        ("本行不會要求您轉帳至個人帳戶，請小心詐騙", ()),
        ("你好，你張卡已經逾期，請盡快經官方App還款，唔該", ()),
        ("本所受委託人委託，請台端於十日內與委託人聯繫還款事宜", ()),
        ("我們的外訪同仁將於週三上午拜訪，屆時出示識別證，如不方便請來電改約", ()),
    ],
    "court_genuine": [
        ("（2025）北簡字第{K}號案件已排定{D}言詞辯論，請準時到庭，查詢請撥12368", ()),
        ("台端與某某銀行之清償債務事件已進入調解程序，調解委員將與您聯繫，詳情可撥當地區號+12368查詢", ()),
    ],
    F: [
        ("再不還錢就準備坐牢吧", (F,)),
        ("你的帳戶明天就會被凍結", (F,)),
        ("你已經被列入黑名單，一輩子都借不到錢", (F,)),
        ("唔還錢就等坐監啦", (F,)),
        ("已經報警處理，警察會介入調查", (F,)),
    ],
    IMP: [
        ("這裡是地檢署，台端涉及債務案件，請今日內與承辦人聯絡還款", (IMP,)),
        ("警方將上門拘提台端，請立即清償欠款", (IMP, F)),
    ],
    TPC: [
        ("我們會打電話到你公司，跟你主管說清楚", (TPC,)),
        ("你家人我們已經全部通知了", (TPC,)),
        ("聽日我哋會搵你屋企人傾下", (TPC,)),
        ("你老豆老母我哋已經打過電話", (TPC,)),
        ("再不處理就去找你們里長", (TPC,)),
    ],
    INS: [
        ("仆街，仲唔還錢", (INS,)),
        ("你老母，借錢唔還好威咩", (INS,)),
        ("冚家鏟，聽晚去你屋企門口等你", (INS,)),
        ("幹你娘，欠錢還敢封鎖", (INS,)),
        ("靠北喔，你到底還不還", (INS,)),
        ("你這個白目，欠債還裝死", (INS,)),
        ("小心你出門被人跟", (INS,)),
        ("食屎啦你，咁都唔還", (INS,)),
    ],
    PRIV: [
        ("你的照片會貼滿你住的大樓", (PRIV,)),
        ("我們會把你的欠款資料發到臉書", (PRIV,)),
        ("你啲相我哋會放上網", (PRIV,)),
    ],
    SCAM: [
        ("請匯款至專員個人帳戶，帳號0912****55", (SCAM,)),
        ("繳交手續費三千元即可撤銷案件", (SCAM,)),
        ("請加LINE客服轉帳，官方管道已暫停", (SCAM,)),
    ],
}

EN: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "lawful": [
        ("Your instalment of RMB {A} is 3 days overdue. Please repay in the official app.", ()),
        ("If you are having difficulty, you can request a repayment plan at no charge.", ()),
        ("We will never ask you to transfer money to a personal account.", ()),
        ("Overdue records may be reported to the credit reference center after notice.", ()),
        ("Your account has been assigned to our collection partner; please contact them through the app.", ()),
        ("We may take legal action in accordance with the loan contract.", ()),
        ("If you have already paid, please ignore this message.", ()),
        ("Our two field officers will call at your home on Friday at 10am and show ID; call us to rearrange.", ()),
    ],
    "court_genuine": [
        (
            "Case (2025) Hu 0115 Min Chu {K}: your hearing is scheduled for {D}. Please appear on time. "
            "Enquiries: area code + 12368.",
            (),
        ),
        (
            "Your loan dispute has been referred to pre-litigation mediation; a court-appointed mediator will "
            "contact you. Check it on the People's Court Online Service.",
            (),
        ),
    ],
    F: [
        ("Pay today or you will go to jail.", (F,)),
        ("Your bank accounts will be frozen tomorrow.", (F,)),
        ("You are blacklisted for life.", (F,)),
        ("A criminal case has been filed against you.", (F,)),
    ],
    IMP: [
        ("This is the police. Settle your loan today or we will arrest you.", (IMP, F)),
        ("Notice from the court: call our officer at {P} to settle the debt today.", (IMP,)),
    ],
    TPC: [
        ("We will call your boss and your colleagues this afternoon.", (TPC,)),
        ("Your parents have already been informed about your debt.", (TPC,)),
        ("Everyone in your contact list will hear from us tonight.", (TPC,)),
    ],
    INS: [
        ("You deadbeat, pay up.", (INS,)),
        ("We know where you live. Watch your back.", (INS,)),
        ("You worthless piece of trash.", (INS,)),
        ("Our guys will be waiting outside your house tonight.", (INS,)),
    ],
    PRIV: [
        ("We will post your ID card and photos online.", (PRIV,)),
        ("Posters with your face will go up all over your neighbourhood.", (PRIV,)),
    ],
    SCAM: [
        ("Transfer the amount to our agent's personal Alipay account.", (SCAM,)),
        ("Pay a RMB 300 fee to remove your overdue record.", (SCAM,)),
        ("Send us the verification code you just received.", (SCAM,)),
    ],
}

TAGS = {
    "zh-Hans": [
        "【闪借宝】",
        "【某某消费金融】",
        "【青禾分期】",
        "【某某资产】",
        "【金盾法务】",
        "【速借宝】",
        "",
        "",
        "",
    ],
    "zh-Hant": ["【某某銀行】", "【某某資產】", "【速借通】", "", ""],
    "en": ["[QuickLend] ", "[Harbor Credit] ", "", ""],
}
COURT_TAGS = {
    "zh-Hans": ["【XX区人民法院】", "【某某市中级人民法院】", "【某某县人民法院】", "【XX互联网法院】"],
    "zh-Hant": ["【臺灣某某地方法院】", "【某某地方法院】"],
    "en": ["[XX District People's Court] ", "[XX Intermediate People's Court] "],
}
FAKE_COURT_SIGNS = {
    "zh-Hans": [
        ("请于今日联系承办法官{P}协商还款", (IMP,)),
        ("撤诉请缴纳撤诉保证金1500元至本院安全账户", (IMP, SCAM)),
        ("详情及缴费请点击 http://fy-court.vip/pay", (IMP, SCAM)),
        ("逾期将由派出所上门拘传", (IMP, F)),
        ("请将执行款汇至执行专员个人账户，户名王某", (IMP, SCAM)),
    ],
    "zh-Hant": [
        ("請於今日撥打書記官0912***456協商還款", (IMP,)),
        ("繳交保證金即可撤銷案件，請匯至安全帳戶", (IMP, SCAM)),
    ],
    "en": [
        ("Call the judge's clerk at {P} today to settle.", (IMP,)),
        ("Pay the case withdrawal fee via the link http://court-pay.top/x", (IMP, SCAM)),
    ],
}
CLOSE = {
    "zh-Hans": ["", "", "退订回T", "如已还款请忽略", "勿回复"],
    "zh-Hant": ["", "", "拒收請回覆R"],
    "en": ["", "", "Reply STOP to opt out."],
}
SEP = {"zh-Hans": "，", "zh-Hant": "，", "en": " "}
END = {"zh-Hans": "。", "zh-Hant": "。", "en": ""}
NAMES = ["王*明", "李*", "张*华", "陈**", "刘*强", "赵*"]
POOLS = {"zh-Hans": HANS, "zh-Hant": HANT, "en": EN}


def risk_for(cats: set[str]) -> str:
    """Apply the contract's risk rule."""
    if not cats:
        return "low"
    return "high" if cats & HIGH or len(cats) >= 3 else "medium"


def fill(rng: random.Random, text: str) -> str:
    """Fill the masked placeholders."""
    return (
        text.replace("{N}", rng.choice(NAMES))
        .replace("{A}", f"{rng.randint(300, 20000):,}")
        .replace("{D}", f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日")
        .replace("{K}", str(rng.randint(100, 9999)))
        .replace("{P}", f"1{rng.choice('3589')}{rng.randint(0, 9)}****{rng.randint(1000, 9999)}")
    )


def join(lang: str, parts: list[str]) -> str:
    """Join sentences the way the locale writes them."""
    if lang == "en":
        return " ".join(p if p.endswith((".", "!", "?")) else p + "." for p in parts)
    if len(parts) == 1:
        return parts[0] + END[lang]
    return parts[0] + SEP[lang] + "。".join(parts[1:]) + END[lang]


def compose(rng: random.Random, lang: str, kind: str) -> tuple[str, set[str]]:
    """Compose one message of `kind` (lawful, court_genuine, authority_fake, abusive)."""
    pool = POOLS[lang]
    cats: set[str] = set()
    if kind == "court_genuine":
        text, _ = rng.choice(pool["court_genuine"])
        return rng.choice(COURT_TAGS[lang]) + fill(rng, text) + (END[lang] if lang != "en" else ""), cats
    if kind == "authority_fake":
        base, _ = rng.choice(pool["court_genuine"])
        sign, c = rng.choice(FAKE_COURT_SIGNS[lang])
        cats |= set(c)
        parts = [fill(rng, base.rstrip("。")), fill(rng, sign)]
        return rng.choice(COURT_TAGS[lang]) + join(lang, parts), cats
    parts: list[str] = []
    if kind == "lawful":
        for text, _ in rng.sample(pool["lawful"], rng.randint(1, 3)):
            parts.append(fill(rng, text))
    else:
        n = rng.choice((1, 1, 2, 2, 3))
        keys = [k for k in ORDER if pool.get(k)]
        for key in rng.sample(keys, min(n, len(keys))):
            text, c = rng.choice(pool[key])
            parts.append(fill(rng, text))
            cats |= set(c)
        if rng.random() < 0.4:  # abusive messages often open like a reminder
            text, _ = rng.choice(pool["lawful"][:6])
            parts.insert(0, fill(rng, text))
    body = join(lang, parts)
    tag = rng.choice(TAGS[lang])
    close = rng.choice(CLOSE[lang])
    return tag + body + ((" " if lang == "en" else "") + close if close else ""), cats


def build(n_per_lang: dict[str, int], seed: int = 20260310) -> list[dict]:
    """Compose the training rows (deterministic for a seed)."""
    rng = random.Random(seed)
    rows: list[dict] = []
    seen: set[str] = set()
    kinds = ["lawful"] * 4 + ["abusive"] * 6 + ["court_genuine", "authority_fake"]
    for lang, n in n_per_lang.items():
        tries = 0
        made = 0
        while made < n and tries < n * 20:
            tries += 1
            kind = rng.choice(kinds)
            text, cats = compose(rng, lang, kind)
            if text in seen:
                continue
            seen.add(text)
            made += 1
            rows.append(
                {
                    "id": f"tr-{lang}-{made:04d}",
                    "text": text,
                    "risk": risk_for(cats),
                    "categories": [c for c in ORDER if c in cats],
                    "lang": lang,
                    "split": "tune",
                    "kind": kind,
                }
            )
    return rows


def merge(rows: list[dict], extra: list[Path]) -> list[dict]:
    """Add rows from other writers' files (same JSON format), dropping texts already present."""
    seen = {r["text"].strip() for r in rows}
    for path in extra:
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
            if not line.strip():
                continue
            r = json.loads(line)
            text = str(r.get("text", "")).strip()
            if not text or text in seen or not set(r.get("categories", [])) <= set(ORDER):
                continue
            seen.add(text)
            cats = set(r.get("categories", []))
            rows.append(
                {
                    "id": f"x-{path.stem}-{i:04d}",
                    "text": r["text"],
                    "risk": risk_for(cats),
                    "categories": [c for c in ORDER if c in cats],
                    "lang": r.get("lang", "zh-Hans"),
                    "split": "tune",
                    "kind": r.get("kind", ""),
                }
            )
    return rows


def main() -> None:
    """Write the training file."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--add", nargs="*", type=Path, default=[], help="more corpus files to merge (deduped)")
    args = ap.parse_args()
    rows = merge(build({"zh-Hans": 560, "zh-Hant": 200, "en": 160}), args.add)
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} rows -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
