"""The crisis safeguard catches self-harm and danger at the door in any script, and stays quiet on idioms."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from bot.config import ROOT
from bot.evaluate import load_examples
from bot.safety import (
    CrisisHit,
    _search,
    detect_crisis,
    first_index,
    lexicon,
    load_lexicon,
    phrase_to_regex,
    same_to_safeguard,
    unbounded_repeat,
)
from bot.textnorm import converter

DEV_SET = ROOT / "rasa_project" / "tests" / "dev_nlu.yml"
TRAIN_DIR = ROOT / "rasa_project" / "data" / "nlu"

# Written as users would write them, separately from the dev set: a second check that the lexicon generalises.
SIMPLIFIED_CRISIS = [
    "我已经想好了，明天就去江边",
    "欠了四十万，我准备把自己了结掉",
    "不如死了干净",
    "我怕我哪天会控制不住从楼上跳",
    "活着就是受罪，一点盼头都没有",
    "我在河边坐了一下午，很想走进去",
    "我吃了半瓶安眠药",
    "真的撑不下去了，想一了百了",
    "我不想活了，别劝我",
    "要不我死了算了，他们就不会再找我家人了",
]
TRADITIONAL_CRISIS = [
    "我真的不想再活了",
    "我想結束自己的生命",
    "活著好累，好想就這樣睡去不要醒來",
    "乾脆死一死算了",
    "我已經寫好遺書了",
    "我好想消失在這個世界上",
    "我覺得我撐唔到聽日",
    "我想自殺，已經準備好了",
    "欠這麼多錢，不如跳樓算了",
    "沒有我，大家都會過得更好",
]
ENGLISH_CRISIS = [
    "i don't see the point of living anymore",
    "I'm planning to kill myself tonight",
    "i wrote a letter to my family saying goodbye",
    "i want to hurt myself",
    "i'm at the train tracks",
    "life has no meaning, i'm done",
    "i took a whole bunch of my sleeping meds",
    "I DON'T WANT TO LIVE",
    "everyone would be better off without me",
    "thinking about suicide a lot lately",
]
DANGER = [
    "十分钟后就到，要收拾你",  # arriving within minutes, with a threat of harm
    "追數佬話半個鐘後到，要俾啲顏色我睇",
    "他们现在在我家门外骂，还在踹",
    "催收的五六个人围在我家门口不让我出去",
    "有个男的拿着刀说要我还钱",
    "他們在我家外面一直撞門",
    "有人闖進我家了，快幫我",
    "我被討債的人打了",
    "追數佬喺門口拍門",
    "they smashed my window and are trying to get in",
    "someone is standing outside my door and won't go away",
    "the collectors cornered me outside my office and threatened me",
]
HARMLESS = [
    "could my life insurance be taken to cover my debts",
    "催收在打我妈电话，怎么让他们别打了",
    "他们一直在打我爸妈的电话",
    "催收说明天会守在我家门口，能报警吗",
    "信用卡注销吧，反正我也用不上了",
    "我已经还清了，以后别再找我了",
    "想通了，先协商还款，心里轻松多了",
    "I feel relieved, I decided to negotiate a repayment plan",
    "I gave the lender all my passwords, was that a mistake",
    "压力大到鼻子出血了",
    "余额全部转给平台还款了",
    "还清以后再也不用面对这些催收了",
    "my loan insurance got the debt covered",
    "冬天老家烧炭盆取暖，催收电话打到我妈那了",
    "终于把网贷还清了，解脱了",
    "这是最后一次借钱，我保证",
    "医生给我开了点安眠药，催收电话还是吵得睡不着",
    "对不起我老婆，我想尽快把钱还给她",
    "my doctor told me to cut down on sleeping pills",
    "热到想死，空调又坏了",
    "你这种人活着就是浪费空气，赶紧还钱",
    "周六去烧炭烧烤，顺便问下网贷逾期的事",
    "给我爸写了封信坦白借网贷的事",
    "对不起家里人，但我会好好面对这笔债",
    "我想把事情交代清楚，列了一份欠款清单",
    "工资卡交给老婆管了，免得我乱花钱",
    "someone is at the door, hold on. ok it was just the delivery",
    "we had drinks on the rooftop and the app kept calling",
    "门口有人按门铃，原来是快递",
    "在天台晒被子，顺便打个电话问问分期",
    "下周出差，猫托给邻居照顾几天，催收电话打不通会怎样",
    "有人按门铃，原来是送快递的，吓我一跳",
    "we were at a rooftop bar when the collector rang",
    "不想拖累家里，所以想自己想办法还",
    "stuck on the bridge in traffic and the app keeps calling",
    "笑死我了",
    "今天累死了",
    "饿死了，先去吃饭",
    "热死了",
    "想死你了",
    "跳楼价大甩卖",
    "我爸喜欢紫砂壶",
    "梅西头球破门",
    "绝望的主妇好看吗",
    "他们天天打我电话",
    "催收打电话到我家了",
    "我被催收打了几十个电话",
    "快递寄到我家了",
    "他們說我不還就要坐牢，是真的嗎",
    "我好害怕，整晚睡不著",
    "I'm dying to know how this works",
    "they call me every day",
    "I'm breaking in new shoes",
    "can they come to my house?",
    "bookmarks",
]


# Warning signs as crisis lines list them, each written in every script people use with this bot.
WARNING_SIGNS: dict[tuple[str, str], dict[str, list[str]]] = {
    ("self_harm", "settling affairs, calm after deciding, by the water, dose and height questions, last looks"): {
        "zh-Hans": [
            "遗书写好了，放在床头柜里",
            "决定好了以后反而很平静",
            "在河边坐着，水很急",
            "从几楼跳下去会没救",
            "反正我也用不着了，电脑送你",
            "这是最后一次登录了",
            "想最后看一眼我的孩子",
            "我死了以后债就一笔勾销了吧",
        ],
        "zh-Hant": ["不孝女先走一步", "我以後再也照顧不了牠了"],
        "yue": ["我唔想再做大家嘅負擔", "封信寫好咗，喺抽屜度"],
        "en": [
            "made my decision and I feel calm now",
            "nobody is gonna miss me",
            "standing on the roof looking down",
            "my policy should pay my debts off when I'm gone",
            "texted my sister all my passwords",
            "do charcoal fumes hurt",
        ],
        "pinyin": ["xia bei zi zai huan ni"],
    },
    ("danger", "boxed in, slapped, a knife pulled, asked which floor, a stranger at the school gate"): {
        "zh-Hans": ["我的车被他们堵死了", "他扇了我一巴掌", "他突然掏出一把刀", "有人在打听我住几楼"],
        "zh-Hant": ["有陌生人在學校門口問我女兒名字", "他們蹲在我家門口不走"],
        "yue": ["佢揸住把刀企喺門口"],
        "en": [
            "a man asked for my flat number downstairs",
            "he showed me a knife and said pay now",
            "the collector is standing right next to me on the train",
        ],
    },
    ("self_harm", "last listener, means at hand, an urging voice, the insurance clause, the tallest bridge"): {
        "zh-Hans": [
            "只有你还肯听我讲，你是我最后一个愿意听的人了",
            "真的熬不动了，就这样吧，大家保重",
            "剪刀就握在手里，我不知道自己在干嘛",
            "脑子里一直有个声音叫我结束这一切",
            "那份保险已经满两年了，理赔应该能下来吧",
            "赔的钱留给我老婆还债就行",
            "附近最高的楼是哪栋",
        ],
        "zh-Hant": ["耳邊一直有個聲音催我快點做決定", "保單過了兩年，受益人寫的是我媽", "每晚都祈求老天明早別讓我醒"],
        "yue": ["把刀就喺手邊", "你係最後一個肯聽我講嘅人"],
        "en": [
            "what is the highest bridge in this city",
            "how tall is the Nanpu bridge",
            "how do I give my laptop to my cousin, I won't need it soon",
        ],
        "pinyin": ["zaijian, yongyuan", "wo men yong bie ba"],
    },
    ("self_harm", "farewell or apology to family"): {
        "zh-Hans": [
            "对不起各位，我先走一步了",
            "以后都不会再麻烦你们了",
            "跟大家说声对不起，欠的下辈子还",
            "替我照顾好爸妈",
            "妈，对不起，女儿不孝",
            "这是我最后一次跟你们说话了",
            "我先走了，大家保重",
            "以后你们就当没我这个女儿",
        ],
        "zh-Hant": [
            "爸媽對不起，這輩子欠的下輩子再還",
            "永別了，謝謝你們一直照顧我",
            "遺書我放在抽屜裡了",
            "今天是我最後一天",
            "如果明天我沒回訊息，就是我走了",
            "請幫我跟我女兒說爸爸愛她",
        ],
        "yue": [
            "對唔住阿爸，我真係冇用",
            "唔好掛住我",
            "我已經同屋企人講咗再見",
            "我寫低咗封信俾個女",
            "我留咗封信俾屋企人",
        ],
        "en": [
            "this is goodbye",
            "please tell my mom i'm sorry",
            "sorry dad, i tried my best",
            "by the time you read this",
            "i'm saying my goodbyes",
            "i left letters for everyone",
            "i wrote notes for my kids",
        ],
        "pinyin": ["dui bu qi ba ma", "yong bie le", "zai jian le da jia"],
    },
    ("self_harm", "giving away belongings, pets or duties"): {
        "zh-Hans": [
            "摊子上的家伙什都交给小舅子了，以后靠他自己",
            "猫我已经托付给朋友了，以后就麻烦她了",
            "我的吉他和游戏机都送给表弟了",
            "房子钥匙和存折都留给我弟了",
        ],
        "zh-Hant": [
            "以後用不到了，這些都送給你",
            "我的貓就拜託你們了",
            "我家的狗託付給鄰居了",
            "以後就拜託你照顧我媽了",
            "我把銀行密碼寫在紙上給我姐了",
            "我把保險受益人改成我媽了",
            "以後我的小孩就拜託你們了",
        ],
        "yue": ["我啲嘢都送晒俾人", "隻狗我已經揾咗人幫我養"],
        "en": [
            "please walk my dog when i'm gone",
            "gave away my guitar and my cat, won't need them anymore",
            "please take care of my dog for me",
            "i'm giving my dog to my neighbour, she'll look after him better than me",
        ],
    },
    ("self_harm", "hopelessness about tomorrow"): {
        "zh-Hans": [
            "不用劝我了，我已经决定了",
            "过了今晚以后就不会再有人催我了",
            "决定了，突然觉得好轻松",
            "明天就解脱了",
            "一切都会结束的，很快",
            "明天这个时候我就解脱了",
            "过了今晚就什么都不用管了",
            "我准备好了，今晚就走",
            "这笔钱以后我再也不用还了",
        ],
        "zh-Hant": ["明天就解脫了", "我已經決定了，明天就結束一切", "欠卡債欠到不想面對明天", "今晚之後一切都會安靜"],
        "yue": ["好快就唔使再煩", "聽晚之後一切都會完", "我決定咗今晚了斷", "聽晚就可以解脫"],
        "en": [
            "tomorrow it is over.",
            "made up my mind, saying goodbye to you all",
            "tomorrow it'll all be over",
            "i won't see tomorrow",
            "i'll be gone by tomorrow",
            "after tonight none of this will matter",
            "tonight is the night",
            "i don't see a future",
        ],
        "pinyin": [
            "zui hou yi ci liao tian le",
            "ming tian jiu jie tuo le ba",
            "ming tian jiu jie tuo le",
            "ming tian jiu jie shu le",
        ],
    },
    ("self_harm", "my death would settle the debt"): {
        "zh-Hans": [
            "我那份意外险应该够把网贷还完",
            "我这条烂命应该能抵一些吧",
            "我死了这笔债就一笔勾销了吧",
            "用命还总可以了吧",
            "我这条烂命赔给他们好了",
            "以死谢罪",
            "我死了保险能赔多少",
        ],
        "zh-Hant": [
            "他們說欠債還錢，我就用這條命還",
            "我要是死了，債是不是就不用還了",
            "地下錢莊的債我還不起，只能一死",
            "這筆債我用命來抵",
        ],
        "yue": ["大不了用條命抵", "我想攞命還債", "我老咗，條命唔值錢，攞去還債啦"],
        "en": [
            "the insurance payout should cover what's left of the loans",
            "i'll just pay with my life",
            "my life insurance would cover the debt",
            "the debt will die with me",
            "my kids will be better off with the insurance money",
            "they can have my life, it's all i've got left",
        ],
        "pinyin": ["yong ming huan", "wo xiang yong ming huan zhai"],
    },
    ("self_harm", "being a burden"): {
        "zh-Hans": [
            "不想拖累家人",
            "家人没有我会更好",
            "我走了以后你们就不用再被催收骚扰了",
            "都是我拖累了这个家",
            "我活着就是给家里丢人",
        ],
        "zh-Hant": ["我這種人不配活著", "如果我消失了，大家都會輕鬆點", "不想再麻煩大家了", "我不想再當家人的負擔"],
        "yue": [
            "冇咗我佢哋會好過啲",
            "唔想再拖累阿媽",
            "我走咗之後你哋唔使再擔心",
            "冇人會掛住我",
            "冇人需要我",
            "冇我喺度，屋企人會開心啲",
        ],
        "en": [
            "my family is better off without me",
            "i'm just a burden to everyone",
            "everyone would be better off if i was dead",
            "i'm sorry for being such a burden",
            "i'm a waste of space",
        ],
        "pinyin": ["bu xiang tuo lei jia ren"],
    },
    ("self_harm", "means and rehearsal"): {
        "zh-Hans": [
            "我现在坐在楼顶上",
            "二十三楼的风真大",
            "一脚油门撞到桥墩上算了",
            "我攒了一个月的安眠药",
            "买了炭，窗户也封好了",
            "这栋楼有多高，跳下去会死吗",
            "割腕是什么感觉",
            "我在江边站了很久",
            "天台的风好大",
            "我想好了怎么走",
        ],
        "zh-Hant": [
            "藥我已經攢夠了",
            "我在想跳樓會不會很痛",
            "我查了安眠藥吃多少會死",
            "我已經準備好炭和膠帶",
            "與其被逼死，不如自己了結",
        ],
        "yue": ["我企喺天台邊", "我食咗好多粒藥", "我已經喺海邊坐咗成晚"],
        "en": [
            "how high does a building need to be",
            "i've been saving up pills",
            "i'm standing on the roof right now",
            "i've thought about how i would do it",
            "i've written my will and letters",
            "i'm thinking of driving into a wall",
        ],
        "pinyin": ["an mian yao", "tiao lou"],
    },
    ("self_harm", "wish to die in plain words"): {
        "zh-Hans": ["我想一了百了", "活着没啥意思"],
        "zh-Hant": ["活著好累，不如死了算了"],
        "yue": [
            "我唔想再生存",
            "我真係好想死",
            "活落去都冇得意思",
            "好想瞓咗唔使再醒",
            "我好攰，唔想再撐落去",
            "想就咁消失",
            "做人好攰，想走",
        ],
        "en": [
            "kms",
            "i want to unalive myself",
            "i'm going to end it all tonight",
            "i won't be around much longer",
            "I just want it all to end",
            "i'm going to ctb",
            "sewerslide",
            "the only way out is death",
        ],
        "pinyin": ["bu xiang huo le", "wo xiang si", "wo bu xiang zai huo xia qu le", "huo zhe mei yi si"],
    },
    ("self_harm", "hurting oneself or wishing not to wake up"): {
        "zh-Hans": ["我又拿刀划自己了", "好想一睡不醒"],
        "zh-Hant": ["我忍不住傷害自己", "睡著了就不要醒來吧", "我想一覺睡下去不要再起來"],
        "yue": ["我成日想傷害自己", "一瞓唔醒就好"],
        "en": ["i cut myself again", "i hope i never wake up again", "i don't want to wake up tomorrow"],
    },
    ("danger", "blocked in or surrounded"): {
        "zh-Hans": [
            "两个人在厂门口守着，我下了班走不了",
            "他们把我的车拦在路口",
            "他们把我堵在小区门口不让走",
            "他们在楼下守着不让我出门",
            "几个人把我围在公司楼下",
            "他们把我老婆围在店里",
            "催收的人把我的门锁堵了，我出不去",
        ],
        "zh-Hant": ["他們把我堵在停車場", "有人堵住我不讓我走", "他們把我的車擋住不讓我開走"],
        "yue": ["班追數佬圍住我唔俾走"],
        "en": [
            "they blocked me in the parking lot",
            "three men are blocking me from leaving",
            "they surrounded my car",
        ],
        "pinyin": ["bu rang wo zou"],
    },
    ("danger", "followed"): {
        "zh-Hans": ["催收的人跟着我上了公交", "他们一直跟着我到了地铁站", "有人骑摩托一直跟在我后面"],
        "zh-Hant": ["有人一路跟著我回家", "有人一直跟蹤我"],
        "yue": ["有個男人跟住我落車"],
        "en": ["a collector followed me onto the bus", "someone has been following me since i left work"],
        "pinyin": ["gen zhe wo"],
    },
    ("danger", "pushed, grabbed or robbed of the phone"): {
        "zh-Hans": [
            "有个男的推了我一把，现在还在旁边",
            "催收抢了我的手机不还",
            "有人抓住我的头发",
            "他们抢走了我的身份证",
            "催收的人把我按在地上",
            "他们逼我上车去银行取钱",
        ],
        "zh-Hant": ["他們搶了我的手機", "他們把我推倒在地上", "我被他們押去提款機領錢"],
        "yue": ["佢哋搶咗我電話", "佢哋揸住我隻手", "佢哋推咗我一下"],
        "en": [
            "he grabbed my phone",
            "they pushed me and took my phone",
            "he pushed me to the ground",
            "they grabbed my daughter",
            "they took my keys and won't give them back",
        ],
        "pinyin": ["qiang le wo de shou ji"],
    },
    ("danger", "strangers inside who refuse to leave"): {
        "zh-Hans": [
            "他们冲进店里了",
            "两个陌生人在我店里赖着不走",
            "那几个人坐在我店里不走",
            "他们现在在我公司大厅闹不走",
            "催收带了五六个人到我店里，现在不走",
        ],
        "zh-Hant": ["催收的人進了我家不肯走"],
        "yue": ["佢哋入咗我間舖唔肯走", "有幾個紋身佬喺我舖頭唔走"],
        "en": [
            "two guys are in my shop and refuse to leave",
            "they won't leave my apartment",
            "they're in my living room and won't go",
            "there are three men in my kitchen",
        ],
        "pinyin": ["bu ken zou"],
    },
    ("danger", "at the door or outside right now"): {
        "zh-Hans": ["催收的人现在在我家门口", "有人一直在敲门，好怕", "他们现在就在我门口骂"],
        "zh-Hant": ["他們已經到我家樓下了", "他們現在就在我家樓下", "有人在我車旁邊等我"],
        "yue": ["佢哋而家喺我門口拍門", "佢哋喺我樓下等緊我"],
        "en": [
            "someone is banging on my door right now",
            "they're outside my door right now",
            "someone's trying to force the door open",
            "two men are waiting at my car",
            "someone keeps ringing the doorbell and shouting my name",
            "someone is in my backyard right now",
            "i'm stuck in my room because they're in the hallway",
            "they're trying to get into my apartment right now",
        ],
        "pinyin": ["zai wo jia men kou"],
    },
    ("danger", "coming now while alone or with children"): {
        "zh-Hans": [
            "说今晚来我家，我一个人带着孩子",
            "他们说半小时后到，我家里只有我和孩子",
            "他们说马上到，家里就我跟女儿",
        ],
        "zh-Hant": ["今晚他們要過來，我一個人在家"],
        "yue": ["佢哋今晚過嚟，我一個人喺屋企", "佢哋等陣上嚟，我同個女喺屋企"],
        "en": [
            "they said they're coming tonight and i'm alone with my kids",
            "they are on their way and i'm home alone with my baby",
        ],
        "pinyin": [
            "ta men shuo ma shang dao wo jia, jia li zhi you wo",
            "wo yi ge ren dai hai zi, ta men jin wan yao shang men",
        ],
    },
    ("danger", "hiding from them or watched through the window"): {
        "zh-Hans": ["我躲在厕所里，他们还在外面", "窗外有人一直往里看", "他们来了，我躲在衣柜里不敢出声"],
        "zh-Hant": ["有人在窗外偷看我"],
        "yue": ["我匿埋喺廁所，佢哋仲喺度"],
        "en": ["i'm hiding in the bathroom", "someone is watching me through my window"],
    },
    ("danger", "locked in, taken away or a weapon"): {
        "zh-Hans": [
            "他们把我关在房间里不让出去",
            "有个人拿着刀在楼下",
            "催收把我拉到车上了",
            "我被锁在屋里了",
            "他们把我孩子从学校带走了",
            "我被几个人拉到一个小房间里",
        ],
        "zh-Hant": ["他們把我關在辦公室", "有人拿著刀在門口", "我被他們關在車裡"],
        "yue": ["佢哋拎住把刀喺門口"],
        "en": [
            "there's a man with a knife outside",
            "i'm locked in a room",
            "he's holding a knife",
            "he's threatening me with a hammer",
            "they broke my window",
        ],
    },
    ("self_harm", "better if I were gone, nobody would miss me"): {
        "zh-Hans": ["我走了对大家都好", "反正没有人会想念我", "死也比让爸妈知道强"],
        "zh-Hant": ["我不在了對誰都好", "不會有人想念我的"],
        "yue": ["我死咗都好過俾屋企人知", "冇人會掛念我"],
        "en": [
            "maybe everyone would be better if i was gone",
            "it'd be easier for my family if i just disappeared",
            "i keep thinking i should just go away for good",
            "no one is going to miss me",
            "better that i die than they find out",
        ],
        "pinyin": ["wo zou le dui da jia dou hao"],
    },
    ("self_harm", "not worth it any more, ending it"): {
        "zh-Hans": ["活着根本不值得", "我觉得不值得再活下去"],
        "zh-Hant": ["這樣活下去真的不值得"],
        "yue": ["做人都唔值得", "活落去唔值得"],
        "en": [
            "life just isn't worth it",
            "i've been thinking of ending it",
            "i really cant anymore",
            "nothing's worth it anymore",
        ],
        "pinyin": ["huo zhe bu zhi de"],
    },
    ("self_harm", "a plan or the means in plain words"): {
        "zh-Hans": ["我打算跳了", "我一直在攒我妈的降压药", "又忍不住割手了", "我现在一个人在江边", "坐在桥上不想回家"],
        "zh-Hant": ["我決定了，要跳了", "我偷偷囤了老公的安眠藥"],
        "yue": ["我又想鎅手", "我而家喺海邊"],
        "en": [
            "i've decided to jump.",
            "i've been stockpiling my dad's painkillers",
            "started cutting again",
            "i'm standing by the bridge",
            "i'm at the lake and i dont want to go back",
        ],
        "pinyin": ["da suan tiao le"],
    },
    ("self_harm", "putting affairs in order"): {
        "zh-Hans": [
            "卡的密码都写在本子上留给老妈了",
            "现在心里没什么牵挂了",
            "孩子以后就拜托给奶奶了",
            "存款都转给我妈了，你们保重",
            "微信都注销了，永别",
        ],
        "zh-Hant": ["女兒以後就託付給我姐了", "錢全部轉給我媽了，對不起"],
        "yue": ["個仔以後就拜託阿媽", "啲積蓄都轉俾老母，對唔住"],
        "en": [
            "my brother has all my passwords now",
            "i gave all my things to my sister",
            "leaving my bike to my neighbour, i won't need it",
            "sent all my money to my brother. goodbye",
            "deleted all my accounts, take care everyone",
            "sorry papa, for everything",
        ],
    },
    ("danger", "followed onto transport, the phone taken, strangers in the room"): {
        "zh-Hans": ["有辆面包车一直跟着我的网约车", "有两个男的在我宿舍"],
        "zh-Hant": ["一輛摩托車一路跟著我的計程車"],
        "yue": ["有架私家車一直跟住我架的士", "有幾個男人喺我間房"],
        "en": [
            "a guy followed me from the station to my building",
            "there's a car tailing my cab",
            "they're taking my phone right now",
            "strangers in my flat right now",
        ],
        "pinyin": ["gen zhe wo de che"],
    },
    ("danger", "waiting outside, back any minute, the door tried or defaced"): {
        "zh-Hans": ["他们随时可能回来", "有人一直在拧我家的门把手", "他们现在在我女儿的幼儿园", "他们在我家门上喷字"],
        "zh-Hant": ["他們隨時會回來", "他們現在正威脅要打我", "聽到他們在樓道裡"],
        "yue": ["佢哋分分鐘返嚟", "佢哋而家喺度話要打我", "佢哋而家喺我個女學校"],
        "en": [
            "he said he'll wait till i come out",
            "they could be back any minute",
            "someone tried to open my window",
            "two men are outside my son's school right now",
            "they're spray painting my gate",
            "they are threatening to hurt me right here",
            "i can hear them in the hallway",
        ],
        "pinyin": ["sui shi hui hui lai"],
    },
    ("self_harm", "affairs settled, a last goodbye, the rooftop, death ends the debt"): {
        "zh-Hans": ["家里的后事都安排好了", "这应该是我们最后一次聊天", "我死了债就没了"],
        "zh-Hant": ["後事已安排，謝謝你們", "我爬上天台了，不想再撐"],
        "yue": ["我死咗就唔使還啦", "上咗天台吹下風 唔想再諗"],
        "en": ["this is the last time we talk, thank you", "last time talking to you"],
    },
    ("danger", "at the stall or gate now, not let go, coming soon to teach a lesson"): {
        "zh-Hans": ["他们正在我的摊子上闹，东西都掀翻了", "几个人围着不让我走", "他们说十分钟后到，要教训我"],
        "zh-Hant": ["他們現在在我店裡，不讓我出去", "門外有人滯留，拒不離開"],
        "yue": ["佢哋喺樓下等緊，我唔敢返屋企", "佢哋唔俾我走"],
        "en": [
            "they grabbed my arm at the market",
            "men at my shop right now asking for me",
            "they said they'll come tonight to teach me a lesson",
        ],
    },
    ("danger", "a set time tonight at the door; they know where I live"): {
        "zh-Hans": ["短信说今晚十点前不还就家门口见", "他们知道我住哪，说今晚就来"],
        "zh-Hant": ["他們知道我住哪，今晚就來", "今晚十二點前不還，家門口見"],
        "yue": ["佢哋知我住邊，話今晚嚟", "今晚唔還錢就樓下見"],
        "en": [
            "they know where i live and said they are coming tonight",
            "tonight, they say, and they know where i live",
        ],
    },
    ("self_harm", "saying goodbye to people, closing the file"): {
        "zh-Hans": ["该还的都还了，跟朋友们也道别了", "后事都交代好了"],
        "zh-Hant": ["能還的都還了，也跟大家道別了", "我的事都交代好了，永別了"],
        "yue": ["同啲朋友講咗再見，我唔會再煩佢哋", "交代好晒啲嘢，後事都安排好"],
        "en": [
            "i said my goodbyes to my family yesterday",
            "said goodbye to everyone, it feels like closing the file",
            "just tying up loose ends now",
        ],
    },
    ("self_harm", "the debt gone with me, a rope, goodbyes sent, everything prepared"): {
        "zh-Hans": ["我走了债也就没了", "我已经跟朋友们道别了"],
        "zh-Hant": ["我死了債就沒了吧", "同啲朋友講咗再見"],
        "yue": ["我死咗就唔使還", "啲嘢都交代好晒"],
        "en": [
            "soon nobody will have to worry about me",
            "i bought a rope yesterday",
            "i texted my sister goodbye",
            "the bridge looks so calm tonight",
            "if something happens, tell my mom i'm sorry",
            "weirdly i feel at peace now, i've made up my mind about tonight",
            "this is the last message you'll get from me",
        ],
    },
    ("danger", "waiting for me, up the stairs, hit, taken, inside now"): {
        "zh-Hans": ["几个人围着不让我走", "他们现在在我的摊子上闹"],
        "zh-Hant": ["他們現在在我店裡，不讓我出去", "門外有人滯留，拒不離開"],
        "yue": ["佢哋唔俾我走", "佢哋喺樓下等緊，我唔敢返屋企"],
        "en": [
            "two men waiting for me after work",
            "they're coming up the stairs",
            "they punched my brother",
            "they're in the office now",
            "they took my scooter",
            "i'm alone with my kids and they keep knocking",
        ],
    },
}

# Ordinary collection talk that must stay quiet: a visit threatened for later, a question about what they may
# do, idioms with 死 / "dead", and words that only look like a warning sign.
ORDINARY_COLLECTION_TALK = [
    "上周他们在门口泼了红油，我拍了照",
    "i found a way out of debt without borrowing again",
    "tomorrow everything ends with that lender, last payment",
    "通讯录里的人都被人骚扰了",
    "说下周要上门",
    "催收说下周要上门，是真的吗",
    "他们说明天来我家，怎么办",
    "催收说今天下午派人到我家 怎么办",
    "催收说要来我家，我该怎么办",
    "他们威胁说要来我老家",
    "如果他们来我家我能报警吗",
    "他们会不会跟踪我",
    "他们说要堵我家门",
    "佢話下個禮拜上嚟",
    "他們說會上門，我好驚",
    "吓死我了，还以为是真的",
    "这个利息真是要人命",
    "死",
    "催收一直在打我电话",
    "会不会连累家人",
    "协商明天就结束了吗",
    "明天一切都会好起来吗",
    "我想把钱还清然后解脱",
    "以后用不到这个app了，怎么注销",
    "我今天一个人去了派出所",
    "我一个人在外地打工，催收打到老家",
    "我今晚一个人在家想了很多，想问问怎么协商",
    "他们说今晚之前必须还款",
    "短信说已经到我户籍地调查了",
    "我的手机被催收app锁了",
    "我的车被法院扣了",
    "堵车了晚点到",
    "他们跟我说如果不还就起诉",
    "我的猫生病了，没钱看病",
    "this debt is killing me lol",
    "i'm dead tired",
    "they said they'll visit next week",
    "they won't leave me alone, calling all day",
    "the collector pushed me to pay today",
    "they follow up every day by text",
    "I'm alone in this city and have no one to ask",
    "I won't need a loan again",
    "我想死磕到底，起诉他们",
    "我不想活在恐惧中，想知道我的权利",
    "还清就解脱了吧",
    "明天就到期了",
    "他们说会找到我家去",
    "被拉进了一个群",
    "dead line is tomorrow",
    "i want to end this debt",
    "he's dead serious about suing",
    "i'll be gone for a week, can they visit",
    "他们跟着我的朋友圈骂我",
    "他们会来堵门吗",
    "他们能把我关起来吗",
    "今天是我最后一天上班，明天就失业了",
    "我想去天台晾衣服",
    "他们说今晚十二点前要还",
    "我把借条交给律师了",
    "they said they'll come tonight if i don't pay by 6",
    "i'm dying to know if they can sue me",
    # Distress, idioms and questions near the warning signs above: crying or taking calls in the toilet,
    # 頂唔順 on its own, 'nothing more to pay once it is paid off', a threat for later, cutting costs.
    "催收日日打嚟，真係頂唔順",
    "他们一直打电话，我只能躲在厕所接",
    "我躲在厕所哭了一场",
    "还清以后再也不用还了吧",
    "结清之后再也不用还了",
    "他们威胁要在门上喷漆",
    "我打算跳槽",
    "我存钱给妈妈买降压药",
    "can they take my phone?",
    "i'm cutting back on spending",
    "thinking about cutting my expenses",
    "i want to end it with this lender and pay in full",
    "what if collectors are at the door?",
    "their calls follow me everywhere",
    "i'm planning to jump at the chance to settle",
    "they'll call back any minute",
    "life insurance is not worth it",
    "i gave my payslips to the lawyer",
    "they threatened to sue me",
]


def _signs() -> list[tuple[str, str]]:
    """Return every warning-sign example with the kind it must be reported as."""
    return [(kind, text) for (kind, _), by in WARNING_SIGNS.items() for texts in by.values() for text in texts]


def _sign_ids() -> list[str]:
    """Return a readable test id (kind, sign, script, number) for every warning-sign example."""
    return [
        f"{kind}:{sign}:{script}:{i}"
        for (kind, sign), by in WARNING_SIGNS.items()
        for script, texts in by.items()
        for i, _ in enumerate(texts)
    ]


def _dev(crisis: bool = True) -> list[str]:
    return [e.text for e in load_examples(DEV_SET) if (e.intent == "crisis") == crisis]


def _train_crisis() -> list[str]:
    return [e.text for p in sorted(TRAIN_DIR.glob("*.yml")) for e in load_examples(p) if e.intent == "crisis"]


def test_every_crisis_message_in_the_dev_set_is_caught() -> None:
    missed = [t for t in _dev() if detect_crisis(t) is None]
    assert len(_dev()) >= 20
    assert not missed


def test_every_crisis_message_in_the_training_data_is_caught() -> None:
    crisis = _train_crisis()
    missed = [t for t in crisis if detect_crisis(t) is None]
    assert len(crisis) >= 300
    assert not missed


def test_no_ordinary_message_in_the_training_data_raises_a_false_alarm() -> None:
    # The stated budget is zero full alarms over every non-crisis training example (all intents, all voices). A
    # collector's "去死" reported as abuse is a reported hit: the crisis reply and then the answer, by design.
    ordinary = [e for p in sorted(TRAIN_DIR.glob("*.yml")) for e in load_examples(p) if e.intent != "crisis"]
    hits = [(e, detect_crisis(e.text)) for e in ordinary]
    alarms = [(e.intent, e.text, hit.pattern_id) for e, hit in hits if hit is not None and not hit.reported]
    assert len(ordinary) >= 3000
    assert alarms == []


def test_ordinary_questions_in_the_dev_set_raise_no_false_alarm() -> None:
    alarms = [(t, detect_crisis(t)) for t in _dev(crisis=False)]
    assert not [a for a in alarms if a[1] is not None]


@pytest.mark.parametrize("text", SIMPLIFIED_CRISIS)
def test_simplified_suicidal_message_is_caught(text: str) -> None:
    hit = detect_crisis(text)
    assert hit is not None and hit.kind == "self_harm"


@pytest.mark.parametrize("text", TRADITIONAL_CRISIS)
def test_traditional_suicidal_message_is_caught(text: str) -> None:
    hit = detect_crisis(text)
    assert hit is not None and hit.kind == "self_harm"


@pytest.mark.parametrize("text", ENGLISH_CRISIS)
def test_english_suicidal_message_is_caught(text: str) -> None:
    hit = detect_crisis(text)
    assert hit is not None and hit.kind == "self_harm"


@pytest.mark.parametrize("text", DANGER)
def test_someone_at_the_door_or_violence_is_danger(text: str) -> None:
    hit = detect_crisis(text)
    assert hit is not None and hit.kind == "danger"


@pytest.mark.parametrize(("kind", "text"), _signs(), ids=_sign_ids())
def test_a_recognised_warning_sign_without_explicit_words_is_caught_with_its_kind(kind: str, text: str) -> None:
    hit = detect_crisis(text)
    assert hit is not None and hit.kind == kind


def test_every_warning_sign_is_written_in_simplified_traditional_cantonese_and_english() -> None:
    for (kind, sign), by in WARNING_SIGNS.items():
        assert {"zh-Hans", "zh-Hant", "yue", "en"} <= set(by), (kind, sign)
    pinyin = [t for by in WARNING_SIGNS.values() for t in by.get("pinyin", [])]
    assert len(pinyin) >= 10


@pytest.mark.parametrize("text", ORDINARY_COLLECTION_TALK)
def test_ordinary_collection_talk_and_threats_for_later_raise_no_alarm(text: str) -> None:
    assert detect_crisis(text) is None


@pytest.mark.parametrize(
    ("coming", "alone"),
    [
        ("催收说今晚来我家", "，我一个人带着孩子"),
        ("他們說馬上過來", "，我一個人在家"),
        ("佢哋話今晚過嚟", "，我一個人同個女喺屋企"),
        ("they said they're coming tonight", " and i'm alone with my son"),
    ],
)
def test_a_visit_tonight_is_danger_when_the_person_is_alone_or_with_children(coming: str, alone: str) -> None:
    assert detect_crisis(coming) is None
    hit = detect_crisis(coming + alone)
    assert hit is not None and hit.kind == "danger"


def test_self_harm_and_danger_are_told_apart_in_the_issue_examples() -> None:
    for text, kind in [
        ("跟大家说声对不起，欠的下辈子还", "self_harm"),
        ("猫我已经托付给朋友了，以后就麻烦她了", "self_harm"),
        ("明天就解脱了", "self_harm"),
        ("my death would settle the debt, i'll pay with my life", "self_harm"),
        ("他们把我堵在小区门口不让走", "danger"),
        ("催收的人跟着我上了公交", "danger"),
        ("有人推了我一把，还抢了我的手机", "danger"),
        ("两个陌生人在我店里不肯走", "danger"),
    ]:
        hit = detect_crisis(text)
        assert hit is not None and hit.kind == kind, text


def test_every_lexicon_entry_is_exercised_by_a_written_example() -> None:
    texts = [t for _, t in _signs()] + SIMPLIFIED_CRISIS + TRADITIONAL_CRISIS + ENGLISH_CRISIS + DANGER
    hit_ids = {hit.pattern_id for t in texts if (hit := detect_crisis(t)) is not None}
    assert sorted(set(lexicon().kinds) - hit_ids) == []


def test_skipping_patterns_that_cannot_start_in_a_message_finds_exactly_what_trying_them_all_finds() -> None:
    lex = lexicon()
    every = dataclasses.replace(lex, by_first=None)
    texts = [t for _, t in _signs()] + SIMPLIFIED_CRISIS + TRADITIONAL_CRISIS + ENGLISH_CRISIS + DANGER + HARMLESS
    texts += _dev(crisis=True) + _dev(crisis=False) + _train_crisis()
    prepared = [t.translate(lex.translate) for t in texts]
    assert [_search(t, lex) for t in prepared] == [_search(t, every) for t in prepared]


def test_texts_differing_only_in_width_case_and_spacing_read_the_same_to_the_safeguard() -> None:
    assert same_to_safeguard("我不想活了，ＯＫ", "我不想 活了,ok")
    assert not same_to_safeguard("我不想活了", "我想活了")


def test_a_pattern_is_indexed_by_the_characters_it_can_start_with_or_always_tried() -> None:
    patterns = (
        ("a", re.compile("(?:今晚|今夜)就走")),
        ("b", re.compile("[^，。]{0,4}跳")),
        ("c", re.compile("(?:我)?想死")),
    )
    by_first, always = first_index(patterns)
    assert by_first == {"今": (0,), "我": (2,), "想": (2,)}
    assert always == (1,)


@pytest.mark.parametrize("text", HARMLESS)
def test_harmless_idioms_and_ordinary_questions_are_not_a_crisis(text: str) -> None:
    assert detect_crisis(text) is None


def test_every_chinese_phrase_of_the_lexicon_is_caught_when_typed_in_traditional() -> None:
    import yaml

    data = yaml.safe_load((ROOT / "bot" / "data" / "crisis_lexicon.yml").read_text(encoding="utf-8"))
    phrases = [p for k in ("self_harm", "danger") for e in data[k] for p in e.get("phrases") or []]
    chinese = [p for p in phrases if re.search(r"[\u4e00-\u9fff]", p)]
    assert len(chinese) > 200
    missed = []
    for config in ("s2t", "s2tw", "s2hk", "s2twp"):
        conv = converter(config)
        assert conv is not None, config
        converted = [(p, str(conv.convert(p))) for p in chinese]
        missed += [(config, p, t) for p, t in converted if detect_crisis(f"我{t}。") is None]
    assert not missed


def test_no_character_of_the_lexicon_hides_its_own_simplified_form() -> None:
    # Characters written in the lexicon are never converted, so a Traditional one would stop matching its
    # Simplified counterpart in every message typed in Traditional script.
    import yaml

    data = yaml.safe_load((ROOT / "bot" / "data" / "crisis_lexicon.yml").read_text(encoding="utf-8"))
    entries = [e for k in ("self_harm", "danger", "exclusions") for e in data.get(k) or []]
    written = {ch for e in entries for x in [*(e.get("phrases") or []), *(e.get("regex") or [])] for ch in str(x)}
    conv = converter("t2s")
    assert conv is not None
    clashes = sorted(ch for ch in written if "\u4e00" <= ch <= "\u9fff" and str(conv.convert(ch)) in written - {ch})
    assert clashes == []


def test_an_idiom_never_hides_a_real_crisis_in_the_same_message() -> None:
    hit = detect_crisis("想死你了，但我真的不想活了")
    assert hit is not None and hit.pattern_id == "sh_dont_want_to_live"
    assert detect_crisis("笑死，跳楼价都买不起，我想自杀") is not None


def test_the_span_points_at_the_words_in_the_original_message() -> None:
    text = "唉…我撐不下去了"
    hit = detect_crisis(text)
    assert hit is not None and text[hit.span[0] : hit.span[1]] == "撐不下去"
    text = "They’re OUTSIDE my door"
    hit = detect_crisis(text)
    assert hit is not None and text[hit.span[0] : hit.span[1]] == "They’re OUTSIDE my door"


def test_spaces_invisible_characters_and_full_width_letters_do_not_hide_a_crisis() -> None:
    for text, words in [
        ("我 不 想 活 了", "不 想 活"),
        ("不\u200b想\u200b活", "不\u200b想\u200b活"),
        ("ＫＩＬＬ　ＭＹＳＥＬＦ", "ＫＩＬＬ　ＭＹＳＥＬＦ"),
        ("i want   to\n die", "want   to\n die"),
        ("我想kms", "kms"),
    ]:
        hit = detect_crisis(text)
        assert hit is not None, text
        assert text[hit.span[0] : hit.span[1]] == words


def test_hit_reports_kind_span_and_lexicon_entry() -> None:
    assert detect_crisis("有人在砸门！") == CrisisHit("danger", (3, 5), "dg_door_attack")
    assert detect_crisis("我想自殺") == CrisisHit("self_harm", (2, 4), "sh_suicide_words")
    assert detect_crisis("") is None


def test_a_100kb_paste_is_checked_with_or_without_a_crisis() -> None:
    """How fast: bench/bench_limits.py."""
    blobs = [
        "他们天天打电话威胁我" * 10_000,
        "a " * 50_000,
        "不想" * 50_000,
        ("are at my " * 10_000)[:100_000],
        "死" * 100_000,
        " \u200b" * 50_000,
        ("kill " * 20_000) + "myself",
    ]
    assert [detect_crisis(blob) for blob in blobs[:-1]] == [None] * (len(blobs) - 1)
    assert detect_crisis(blobs[-1]) == CrisisHit("self_harm", (99_995, 100_006), "sh_en_suicide")  # "kill myself"
    assert detect_crisis("x" * 100_000 + "不想活了") is not None
    assert detect_crisis("x" * 50_000 + "不想活了" + "x" * 50_000) is not None


def test_the_lexicon_loads_once() -> None:
    """How fast: bench/bench_limits.py."""
    lexicon.cache_clear()
    assert lexicon() is lexicon()


@pytest.mark.parametrize(
    ("entry", "error"),
    [
        ("  - id: sh_x\n    regex: ['死.*']\n", "unbounded"),
        ("  - id: sh_x\n    regex: ['(?:死)?']\n", "empty string"),
        ("  - id: sh_x\n    regex: ['KILL']\n", "lower case"),
        ("  - id: sh_x\n    regex: ['(']\n", "bad regex"),
        ("  - id: Bad-Id\n    phrases: [自杀]\n", "bad or duplicate id"),
        ("  - id: sh_x\n    phrases: [自杀]\n  - id: sh_x\n    phrases: [轻生]\n", "bad or duplicate id"),
        ("  - id: sh_x\n    phrases: [不 想活]\n", "space between"),
        ("  - id: sh_x\n    note: nothing\n", "needs a list"),
    ],
)
def test_a_lexicon_mistake_is_reported_clearly(tmp_path: Path, entry: str, error: str) -> None:
    path = tmp_path / "lexicon.yml"
    path.write_text("self_harm:\n" + entry, encoding="utf-8")
    with pytest.raises(ValueError, match=error):
        load_lexicon(path)


def test_lexicon_helpers_spot_unbounded_repeats_and_build_word_edges() -> None:
    assert unbounded_repeat("a.*b") and unbounded_repeat("a+") and unbounded_repeat("x{2,}")
    assert not unbounded_repeat(r"a.{0,6}b") and not unbounded_repeat(r"[*+]") and not unbounded_repeat(r"\*")
    rx = re.compile(phrase_to_regex("don't want to live"), re.ASCII)
    assert rx.search("i dont want to live") and rx.search("i don't want to live")
    assert not re.search(phrase_to_regex("kms"), "bookmarks", re.ASCII)


@pytest.mark.parametrize(
    ("text", "reported"),
    [
        ("催收员在电话里骂我去死，我录音了", True),
        ("他們話要我生不如死，咁算唔算恐嚇", True),
        ("昨天他们在我家门口骂了几句就走了", True),
        ("上回他们在我家门口喷了字，我拍了照", True),
        ("the collector told me to kill myself, is that legal", True),
        ("佢哋發短訊話冇錢就去跳海，可唔可以報警", True),
        ("去年被逼得差点想不开，现在好多了，想投诉那家平台", True),
        ("刷到新闻有好多人被网贷逼到跳楼，这种能举报吗", True),
        ("saw a news story about borrowers driven to suicide by loan apps, is that legal", True),
        ("上次有人在楼下守了一晚，后来保安报了警，能索赔吗", True),
        ("催收让我去死，我也觉得活着没意思了", False),
        ("去年差点想不开，现在又不想活了", False),
        ("电影里讨债的都拿刀堵门，现实会这样吗", True),
        ("the agent said I would be better off dead, can I report him", True),
        ("years ago a collector pushed me once, now they are calling my boss, is that allowed", True),
        ("他们正在楼下打我爸", False),
        ("昨天他们来过就走了，现在又在门口砸门", False),
        ("they told me to kill myself and honestly i don't want to live anymore", False),
    ],
)
def test_a_sign_only_in_a_collectors_words_or_a_finished_visit_is_reported_and_ones_own_is_full(
    text: str, reported: bool
) -> None:
    hit = detect_crisis(text)
    assert hit is not None and hit.reported == reported, hit
