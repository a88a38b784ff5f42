"""Procedural toy-world task (count@8). Generated; self-contained."""

INSTANCES = {
    "1": {
        "prompt": "Count a: a a a c a b b d",
        "answer": "4"
    },
    "2": {
        "prompt": "Count d: c c a b c a c a",
        "answer": "0"
    }
}


def _normalise(text):
    return " ".join(str(text).split())


class TaskFamily:
    @staticmethod
    def get_tasks():
        return dict(INSTANCES)

    @staticmethod
    def get_instructions(t):
        return t["prompt"]

    @staticmethod
    def score(t, submission):
        return 1.0 if _normalise(submission) == _normalise(t["answer"]) else 0.0
