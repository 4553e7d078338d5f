"""Needle sentences and questions for ``passages.py`` and ``passages_sweep.py``.

Two question styles per needle: a *paraphrase* that shares few of the needle's words (the
hard case: a user who does not remember the wording) and a *keyword* query, the few words a
user types into a search box. ``DEV_KEYWORDS`` are keyword queries for the 40 needles of
``tests/platform/needles.py`` (development split); ``HELD_OUT`` is a second needle set, written
afterwards and used only to check a choice made on the first: news-like sentences (councils,
courts, sport, weather) that blend into ABC news far more than the whimsical dev needles.
"""

from __future__ import annotations

#: Keyword queries for tests/platform/needles.py's NEEDLES, in order.
DEV_KEYWORDS: list[str] = [
    "lighthouse keeper door colour",
    "parrot whistles Chopin",
    "Elm Street bakery sourdough day",
    "lava speed volcano expedition",
    "chess club banned opening",
    "blue whale heart weight",
    "tuba player unicycle",
    "plum jam recipe pepper",
    "submarine depth Azores",
    "stolen emerald necklace found",
    "pumpkin race farmers",
    "astronaut radishes space station",
    "goalkeeper banana peel cup final",
    "Antarctic base emergency chocolate",
    "trilogy written on napkins",
    "old tram library",
    "goats lavender",
    "time capsule bridge pillar",
    "albino hedgehog cemetery",
    "cargo plane frozen lake landing",
    "robot folds laundry",
    "dentist bagpipes",
    "castle ghost snow April",
    "bees detect landmines",
    "goat cheese cave monastery",
    "marathon winner barefoot",
    "skyscraper pretzel shape",
    "village well copper poisoned",
    "elephant paints watercolours",
    "tortoise escaped",
    "violin 1712 maple lightning",
    "island ferry wind force eight",
    "meteorite greenhouse roof",
    "coronation banquet peacock",
    "mountain hut free soup",
    "Lisbon train cows delay",
    "hospital solar panels car park",
    "poet buried sonnets cherry tree",
    "tailor silver button suits",
    "Roman amphora olive oil divers",
]

#: (needle sentence, paraphrased question, keyword query): held-out split.
HELD_OUT: list[tuple[str, str, str]] = [
    (
        "The Wagga Wagga council voted to close the Olympic pool for six months of repairs.",
        "Why will swimmers in the Riverina town lose their public baths for half a year?",
        "Wagga Wagga pool closed repairs",
    ),
    (
        "A Darwin magistrate fined a fisherman $12,000 for keeping undersized barramundi.",
        "What penalty did a Top End angler get for catching fish that were too small?",
        "Darwin fisherman fined barramundi",
    ),
    (
        "Hobart's ferry terminal will be rebuilt after storms cracked its concrete pylons.",
        "Why must the Tasmanian capital's boat wharf be reconstructed?",
        "Hobart ferry terminal pylons storm",
    ),
    (
        "The netball star Kerrie Dalton announced her retirement after 112 Test matches.",
        "Which international player of the court game is quitting after a long career?",
        "netball Dalton retirement",
    ),
    (
        "Bushfire volunteers in Gippsland saved a koala sanctuary from the flames overnight.",
        "Who rescued the marsupial refuge in eastern Victoria from the blaze?",
        "Gippsland koala sanctuary fire volunteers",
    ),
    (
        "The Reserve Bank printed a commemorative five-dollar note for the Centenary of Federation.",
        "What special banknote did the central bank issue to mark a hundred years as a nation?",
        "commemorative five dollar note Federation",
    ),
    (
        "Cairns hospital ran out of anti-venom after eleven people were stung by box jellyfish.",
        "Why did a tropical Queensland clinic exhaust its supply of sting treatment?",
        "Cairns hospital anti-venom jellyfish",
    ),
    (
        "A Broken Hill mining company found opals while drilling for zinc.",
        "What gemstones turned up when the outback miners were looking for another metal?",
        "Broken Hill opals zinc drilling",
    ),
    (
        "The Adelaide Crows fined their captain for missing a team flight to Perth.",
        "Why was the South Australian football leader penalised by his club?",
        "Crows captain fined flight Perth",
    ),
    (
        "Weather bureau forecasters recorded hailstones the size of cricket balls in Toowoomba.",
        "How large were the ice pellets that fell on the Darling Downs city?",
        "Toowoomba hail cricket balls",
    ),
    (
        "Canberra's public servants will be allowed to work from home two days a week.",
        "What new arrangement lets government employees in the capital avoid the office?",
        "Canberra public servants work from home",
    ),
    (
        "A Perth court jailed a man for stealing 400 sheep from a farm near Northam.",
        "Who was imprisoned over livestock taken from a Wheatbelt property?",
        "Perth court sheep theft Northam",
    ),
    (
        "The Murray River paddle steamer Marion was restored by volunteers over nine years.",
        "Who spent most of a decade fixing up the old riverboat?",
        "paddle steamer Marion restored",
    ),
    (
        "Tasmanian devils at the Launceston wildlife park are being vaccinated against facial tumours.",
        "What are keepers doing to protect the island state's carnivorous marsupials from cancer?",
        "Tasmanian devils vaccinated tumours",
    ),
    (
        "The Sydney Harbour Bridge will be closed on Sunday for a charity fun run.",
        "Why can't drivers cross the famous arch over the port this weekend?",
        "Harbour Bridge closed fun run",
    ),
    (
        "Customs officers at Brisbane airport seized 30 live snakes hidden in a suitcase.",
        "What illegal reptiles were found in a traveller's luggage in Queensland?",
        "Brisbane airport snakes suitcase customs",
    ),
    (
        "The Alice Springs school bought a camel to teach students about desert farming.",
        "Which animal did the Red Centre classroom acquire for agriculture lessons?",
        "Alice Springs school camel",
    ),
    (
        "A Newcastle steelworker won $3 million in the lottery and kept his job.",
        "What did the Hunter factory hand do after his huge jackpot?",
        "Newcastle steelworker lottery win",
    ),
    (
        "The Geelong wool store was converted into a museum of textile machinery.",
        "What became of the old fleece warehouse in the Victorian port city?",
        "Geelong wool store museum",
    ),
    (
        "Police divers recovered a stolen safe from the bottom of Lake Burley Griffin.",
        "Where in the capital was the missing strongbox found underwater?",
        "stolen safe Lake Burley Griffin",
    ),
    (
        "Grape growers in the Barossa Valley lost half their vintage to a late frost.",
        "Why did the South Australian winemakers harvest so little fruit this year?",
        "Barossa frost vintage lost",
    ),
    (
        "The Melbourne Cup favourite was scratched on the morning of the race with a sore hoof.",
        "Why did the leading horse not run in the famous November race?",
        "Melbourne Cup favourite scratched hoof",
    ),
    (
        "Fishermen off Port Lincoln netted a great white shark four metres long.",
        "How big was the predator caught by the trawler crew on the Eyre Peninsula?",
        "Port Lincoln great white shark",
    ),
    (
        "The Townsville army base will host 500 soldiers from Singapore for a jungle exercise.",
        "Which foreign troops are coming to train at the north Queensland garrison?",
        "Townsville Singapore soldiers exercise",
    ),
    (
        "A Ballarat bakery baked a meat pie weighing 200 kilograms for the town's festival.",
        "How heavy was the giant savoury pastry made in the goldfields city?",
        "Ballarat giant meat pie",
    ),
    (
        "The Kakadu park rangers closed Jim Jim Falls after a crocodile was seen in the plunge pool.",
        "Why was the Top End waterfall shut to visitors?",
        "Jim Jim Falls crocodile closed",
    ),
    (
        "Qantas will stop flying to Mount Isa in March because of falling passenger numbers.",
        "Why is the national airline dropping the outback mining town from its routes?",
        "Qantas Mount Isa flights stop",
    ),
    (
        "The Bendigo council painted its trams pink to raise money for breast cancer research.",
        "What colour did the Victorian city give its streetcars for a charity?",
        "Bendigo trams pink",
    ),
    (
        "A Gold Coast surf lifesaver rescued nine swimmers caught in a rip in one afternoon.",
        "How many bathers did a beach patrol member pull from a current on the Queensland coast?",
        "Gold Coast lifesaver rescued nine rip",
    ),
    (
        "The Nullarbor roadhouse now sells petrol at two dollars a litre, the highest in Australia.",
        "Where on the treeless plain is fuel the dearest in the country?",
        "Nullarbor roadhouse petrol price",
    ),
]
