"""The intents tests score the rules and the n-gram classifier, as CI installs them (without `palabre[nlu]`);
the sentence-encoder second opinion is tested explicitly where it is asked for."""

import os

os.environ.setdefault("PALABRE_NLU_SECOND_OPINION", "off")
