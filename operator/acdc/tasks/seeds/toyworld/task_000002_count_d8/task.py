"""Procedural toy-world task (count@8). Generated; self-contained."""

INSTANCES = {
    "1": {
        "prompt": "Count d: b b c b c a c c",
        "answer": "0"
    },
    "2": {
        "prompt": "Count d: c b d a c a c a",
        "answer": "1"
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
