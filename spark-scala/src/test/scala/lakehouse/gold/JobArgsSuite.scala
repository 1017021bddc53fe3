package lakehouse.gold

import java.io.{ByteArrayOutputStream, PrintStream}
import java.time.LocalDate

import org.scalatest.funsuite.AnyFunSuite

class JobArgsSuite extends AnyFunSuite {
  private val Paths = Seq("--silver", "/lake/silver/events", "--gold", "/lake/gold/fct_purchases_daily")

  test("paths alone: every silver day, no full refresh") {
    assert(JobArgs.parse(Paths) == Right(JobArgs("/lake/silver/events", "/lake/gold/fct_purchases_daily")))
  }

  test("a date range and the full-refresh flag, in any order") {
    val ranged = JobArgs.parse(Seq("--to-date", "2024-03-02", "--from-date", "2024-03-01") ++ Paths)
    assert(ranged.map(a => (a.fromDate, a.toDate)) ==
      Right((Some(LocalDate.of(2024, 3, 1)), Some(LocalDate.of(2024, 3, 2)))))
    assert(JobArgs.parse("--full-refresh" +: Paths).map(_.fullRefresh) == Right(true))
  }

  private val bad = Seq(
    Seq("--gold", "/g") -> "--silver PATH is required",
    Seq("--silver", "/s") -> "--gold PATH is required",
    Seq("--silver") -> "--silver needs a value",
    Seq("--silver", "--gold", "/g") -> "--silver needs a value",
    (Paths ++ Seq("--from-date", "2024-13-01")) -> "--from-date '2024-13-01' is not a date (YYYY-MM-DD)",
    (Paths ++ Seq("--to-date", "01/03/2024")) -> "--to-date '01/03/2024' is not a date (YYYY-MM-DD)",
    (Paths ++ Seq("--from-date", "2024-03-02", "--to-date", "2024-03-01")) -> "--from-date 2024-03-02 is after",
    (Paths ++ Seq("--full-refresh", "--from-date", "2024-03-01")) -> "--full-refresh rewrites every day",
    (Paths ++ Seq("--gold", "/other")) -> "--gold given twice",
    (Paths :+ "--days") -> "unknown argument '--days'",
    (Paths :+ "extra") -> "unknown argument 'extra'"
  )

  bad.foreach { case (args, problem) =>
    test(s"rejects ${args.mkString(" ")}") {
      val parsed = JobArgs.parse(args)
      assert(parsed.isLeft, parsed)
      assert(parsed.left.exists(_.startsWith(problem)), parsed)
    }
  }

  private def execute(args: Seq[String]): (Int, String, String) = {
    val out = new ByteArrayOutputStream()
    val err = new ByteArrayOutputStream()
    val code = PurchasesDailyJob.execute(args, new PrintStream(out, true), new PrintStream(err, true))
    (code, out.toString("UTF-8"), err.toString("UTF-8"))
  }

  test("a bad argument prints the problem and the usage and exits non-zero, without starting Spark") {
    val (code, out, err) = execute(Seq("--silver", "/s"))
    assert(code == 2)
    assert(out.isEmpty)
    assert(err.startsWith("error: --gold PATH is required"))
    assert(err.contains("Usage: spark-submit --class lakehouse.gold.PurchasesDailyJob"))
  }

  test("--help prints the usage and exits zero") {
    val (code, out, err) = execute(Seq("--help"))
    assert((code, err) == ((0, "")))
    assert(out.contains("--from-date"))
  }

  test("runWith rejects bad arguments before touching the session") {
    val failure = intercept[IllegalArgumentException](PurchasesDailyJob.runWith(null, Array("--gold", "/g")))
    assert(failure.getMessage.startsWith("--silver PATH is required"))
    assert(failure.getMessage.contains("Usage:"))
  }
}
